-- The API schema PostgREST serves, and its roles (SPEC §4).  Load it into a
-- database where zstack_tfa is installed:  psql -f postgrest/api.sql
--
-- nginx turns every /zstack/v1/... request into POST /rpc/zstack with the
-- original method, raw URI and Authorization in X-ZStack-* headers (see
-- nginx-zstack.conf): PostgREST must not see ZStack's query string (it would
-- read limit, order, select and filters itself) nor an Authorization header
-- (it would take "Bearer ..." for a JWT).  POST makes every call read-write,
-- so sessions are extended on each call, as ZStack does.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'zstack_web_anon') THEN
		CREATE ROLE zstack_web_anon NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'zstack_authenticator') THEN
		-- give it a password (ALTER ROLE ... PASSWORD) where logins need one
		CREATE ROLE zstack_authenticator LOGIN NOINHERIT;
	END IF;
END $$;
GRANT zstack_web_anon TO zstack_authenticator;

CREATE SCHEMA IF NOT EXISTS zstack_api;

-- PostgREST's "any" media type handler: the body goes out as these bytes,
-- with the Content-Type the function sets
DO $$
BEGIN
	CREATE DOMAIN zstack_api."*/*" AS bytea;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- The one function PostgREST calls: the request body arrives whole, as
-- bytes, in the single unnamed argument (nginx sends it as
-- application/octet-stream, so PostgREST passes it on unread: as text, a body
-- that is not UTF-8 was PostgreSQL's 22021 error in PostgREST's JSON), and
-- goes to http_request as text (a body that is not JSON, or nests too deep
-- for the json type, gets zstack_tfa's own 400, not PostgreSQL's error); the
-- headers ZStack reads arrive as X-ZStack-* (see nginx-zstack.conf); the
-- reply is http_request's, unchanged.
DROP FUNCTION IF EXISTS zstack_api.zstack(text);	-- before 1.2 the body came as text
CREATE OR REPLACE FUNCTION zstack_api.zstack(bytea)
RETURNS zstack_api."*/*"
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h json := coalesce(nullif(current_setting('request.headers', true), ''), '{}')::json;
	uri text := coalesce(h->>'x-zstack-uri', '');
	q int := strpos(uri, '?');
	r record;
	body text;
BEGIN
	BEGIN
		body := convert_from($1, 'UTF8');
	EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
		-- not UTF-8, so not JSON (RFC 8259 8.1): its escaped form, whose
		-- \ooo escapes are not JSON either, gets http_request's "not valid
		-- JSON" 400 at the point any other such body would
		body := encode($1, 'escape');
	END;
	SELECT * INTO r FROM zstack_tfa.http_request(
		coalesce(h->>'x-zstack-method', ''),
		CASE WHEN q > 0 THEN left(uri, q - 1) ELSE uri END,
		CASE WHEN q > 0 THEN substr(uri, q + 1) ELSE '' END,
		json_strip_nulls(json_build_object(
			'Authorization', h->>'x-zstack-authorization',
			'X-JSON-Schema', h->>'x-zstack-json-schema',
			'X-Job-UUID', h->>'x-zstack-job-uuid')),
		body);
	-- PostgREST 12 takes every 503 it sends for a lost database and
	-- reconnects and reloads its schema cache (PostgREST/postgrest#4956), but
	-- ZStack answers 503 for every API error.  So a 503 leaves PostgREST as
	-- the unassigned 599 with the envelope also in X-ZStack-Body, and nginx
	-- turns it back into ZStack's 503 (see nginx-zstack.conf).
	IF r.status = 503 THEN
		PERFORM set_config('response.status', '599', true);
		PERFORM set_config('response.headers', json_build_array(
			json_build_object('Content-Type', r.content_type),
			json_build_object('X-ZStack-Body', r.body))::text, true);
	ELSE
		PERFORM set_config('response.status', r.status::text, true);
		PERFORM set_config('response.headers',
			json_build_array(json_build_object('Content-Type', r.content_type))::text, true);
	END IF;
	-- a PNG comes as bytes, every other reply as text
	RETURN coalesce(r.binary_body, convert_to(r.body, 'UTF8'));
END
$$;

-- least privilege: the anonymous role may call this function and, through
-- it, http_request; nothing else of zstack_tfa
REVOKE ALL ON FUNCTION zstack_api.zstack(bytea) FROM PUBLIC;
GRANT USAGE ON SCHEMA zstack_api TO zstack_web_anon;
GRANT EXECUTE ON FUNCTION zstack_api.zstack(bytea) TO zstack_web_anon;
GRANT USAGE ON SCHEMA zstack_tfa TO zstack_web_anon;
GRANT EXECUTE ON FUNCTION zstack_tfa.http_request(text, text, text, json, text) TO zstack_web_anon;
-- (before 1.1 the body was json only; that form is no longer needed here)
REVOKE EXECUTE ON FUNCTION zstack_tfa.http_request(text, text, text, json, json) FROM zstack_web_anon;

-- PostgREST reloads its schema cache on this notification
NOTIFY pgrst, 'reload schema';
