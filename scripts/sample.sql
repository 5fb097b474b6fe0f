-- The demo's sample: accounts of each type, IAM2 users inside them, 2FA
-- enabled, and secrets in both states (some users have completed their
-- first 2FA login, so their secrets are Logined).
CREATE EXTENSION IF NOT EXISTS zstack_tfa;
SET client_min_messages = warning;

SELECT zstack_tfa.set_account_password('admin', 'demo-admin-password');
SELECT zstack_tfa.create_account('alice', 'alice-password');
SELECT zstack_tfa.create_account('bob', 'bob-password');
SELECT zstack_tfa.create_account('partner', 'partner-password', 'ThirdParty');
SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-dev', 'dev-password');
SELECT zstack_tfa.create_iam2_virtual_id('alice', 'alice-ops', 'ops-password');
SELECT zstack_tfa.create_iam2_virtual_id('bob', 'bob-ci', 'ci-password');

-- every account gets a NewCreated secret; IAM2 users fetch theirs
SELECT zstack_tfa.set_two_factor_authentication_enabled(true);
SELECT zstack_tfa.get_two_factor_authentication_secret(n, p, 'iam2')
FROM (VALUES ('alice-dev', 'dev-password'), ('alice-ops', 'ops-password'),
	('bob-ci', 'ci-password')) v(n, p);

-- bob and alice-dev complete a 2FA login with their authenticator's code
SELECT zstack_tfa.log_in_by_account('bob', 'bob-password',
	ARRAY['twofatoken::' || zstack_tfa.totp((zstack_tfa.get_two_factor_authentication_secret('bob', 'bob-password')->'inventory'->>'secret'))]);
SELECT zstack_tfa.log_in_by_iam2_virtual_id('alice-dev', 'dev-password',
	ARRAY['twofatoken::' || zstack_tfa.totp((zstack_tfa.get_two_factor_authentication_secret('alice-dev', 'dev-password', 'iam2')->'inventory'->>'secret'))]);
