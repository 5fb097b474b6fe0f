-- The demo's sample: a few accounts, IAM2 users inside them, and secrets
-- in both states.  Load into a database where zstack_tfa can be created.
CREATE EXTENSION IF NOT EXISTS zstack_tfa;
SET client_min_messages = warning;

SELECT zstack_tfa.set_account_password('admin', 'demo-admin-password');
SELECT zstack_tfa.create_account('alice', 'alice-password');
SELECT zstack_tfa.create_account('bob', 'bob-password');
SELECT zstack_tfa.create_account('partner', 'partner-password', 'ThirdParty');
SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-dev', 'dev-password');
SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-ops', 'ops-password');
SELECT zstack_tfa.create_iam2_virtual_id('bob', 'bob-ci', 'ci-password');

-- one secret per user, created over the last weeks, about half logged in
INSERT INTO zstack_tfa.secret (uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date)
SELECT zstack_tfa.new_uuid(),
	(SELECT string_agg(substr('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 1 + (random() * 31)::int, 1), '')
	 FROM generate_series(1, 16) WHERE u.uuid IS NOT NULL),
	u.uuid, u.user_type::zstack_tfa.user_type, u.account_uuid,
	CASE WHEN u.n % 2 = 0 THEN 'Logined' ELSE 'NewCreated' END::zstack_tfa.secret_status,
	now() - u.n * interval '3 days 5 hours', now() - u.n * interval '1 day'
FROM (
	SELECT uuid, uuid AS account_uuid, 'AccountVO' AS user_type, row_number() OVER (ORDER BY name) AS n
	FROM zstack_tfa.account
	UNION ALL
	SELECT uuid, account_uuid, 'IAM2VirtualIDVO', 10 + row_number() OVER (ORDER BY name)
	FROM zstack_tfa.iam2_virtual_id
) u;
