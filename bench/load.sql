-- Realistic data for the benchmarks: :n secrets, owned by accounts of ten
-- IAM2 users each (so 1M secrets means 100k accounts), a session per account,
-- dates spread over a year, a third of the secrets Logined.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
TRUNCATE zstack_tfa.account, zstack_tfa.iam2_virtual_id, zstack_tfa.session, zstack_tfa.secret, zstack_tfa.auth_event CASCADE;
INSERT INTO zstack_tfa.account (uuid, name, type) VALUES ('36c27e8ff05c4780bf6d2fa65700f22e', 'admin', 'SystemAdmin');
INSERT INTO zstack_tfa.account (uuid, name, password_hash)
SELECT md5('acct' || a), 'acct' || a, :'hash' FROM generate_series(0, :n / 10 - 1) a;
INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, account_uuid)
SELECT md5('user' || i), 'user' || i, md5('acct' || (i / 10)) FROM generate_series(0, :n - 1) i;
INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date)
SELECT md5('secret' || i), 'JBSWY3DPEHPK3PXP', md5('user' || i), 'IAM2VirtualIDVO', md5('acct' || (i / 10)),
	CASE WHEN i % 3 = 0 THEN 'Logined' ELSE 'NewCreated' END::zstack_tfa.secret_status,
	timestamptz '2025-11-28 00:00:00+00' + (i % 365) * interval '1 day' + (i % 86400) * interval '1 second',
	timestamptz '2026-11-01 00:00:00+00'
FROM generate_series(0, :n - 1) i;
INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date)
SELECT zstack_tfa.session_key(md5('session' || a)), md5('acct' || a), md5('acct' || a), now() + interval '1 day'
FROM generate_series(0, :n / 10 - 1) a;
INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date) VALUES
	(zstack_tfa.session_key('5e550000000000000000000000000001'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', now() + interval '1 day');
VACUUM ANALYZE zstack_tfa.account, zstack_tfa.iam2_virtual_id, zstack_tfa.secret, zstack_tfa.session;
