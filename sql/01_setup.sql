-- The sample world every later test uses: accounts of each type, two IAM2
-- users inside alice, one secret per user with pinned dates, and sessions
-- with pinned uuids (one of them expired).  Uuids are readable on purpose:
-- a... accounts, e... IAM2 users, f... secrets, 5e55... sessions.
SET client_min_messages = warning;

-- after CREATE EXTENSION the admin account exists, without a password
SELECT uuid, type, password_hash IS NULL AS no_password FROM zstack_tfa.account;
SELECT zstack_tfa.log_in_by_account('admin', 'password')->'error'->>'code' AS default_password_refused;

SELECT zstack_tfa.set_account_password('admin', 'admin-password');
INSERT INTO zstack_tfa.account (uuid, name, password_hash, type) VALUES
	('a0000000000000000000000000000001', 'alice', zstack_tfa.hash_password('alice-password'), 'Normal'),
	('a0000000000000000000000000000002', 'bob', zstack_tfa.hash_password('bob-password'), 'Normal'),
	('a0000000000000000000000000000003', 'carol', zstack_tfa.hash_password('carol-password'), 'ThirdParty'),
	('a0000000000000000000000000000004', 'ops', zstack_tfa.hash_password('ops-password'), 'SystemAdmin');
INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, password_hash, account_uuid) VALUES
	('e0000000000000000000000000000001', 'alice-dev1', zstack_tfa.hash_password('dev1-password'), 'a0000000000000000000000000000001'),
	('e0000000000000000000000000000002', 'alice-dev2', zstack_tfa.hash_password('dev2-password'), 'a0000000000000000000000000000001');

INSERT INTO zstack_tfa.secret
	(uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date) VALUES
	('f0000000000000000000000000000001', 'JBSWY3DPEHPK3PXP', 'a0000000000000000000000000000001', 'AccountVO', 'a0000000000000000000000000000001', 'NewCreated', '2026-01-10 09:00:00+00', '2026-01-10 09:00:00+00'),
	('f0000000000000000000000000000002', 'GEZDGNBVGY3TQOJQ', 'a0000000000000000000000000000002', 'AccountVO', 'a0000000000000000000000000000002', 'Logined', '2026-02-11 13:30:00+00', '2026-02-12 08:15:00+00'),
	('f0000000000000000000000000000003', 'MFRGGZDFMZTWQ2LK', 'a0000000000000000000000000000003', 'AccountVO', 'a0000000000000000000000000000003', 'Logined', '2026-03-12 00:00:00+00', '2026-03-12 00:00:01+00'),
	('f0000000000000000000000000000004', 'KRUGKIDROVUWG2ZA', 'e0000000000000000000000000000001', 'IAM2VirtualIDVO', 'a0000000000000000000000000000001', 'Logined', '2026-04-13 12:00:00+00', '2026-04-13 12:30:00+00'),
	('f0000000000000000000000000000005', 'ONSWG4TFOQQGM33S', 'e0000000000000000000000000000002', 'IAM2VirtualIDVO', 'a0000000000000000000000000000001', 'NewCreated', '2026-05-14 23:59:59+00', '2026-05-14 23:59:59+00'),
	('f0000000000000000000000000000006', 'NB2HI4DTHIXS653X', '36c27e8ff05c4780bf6d2fa65700f22e', 'AccountVO', '36c27e8ff05c4780bf6d2fa65700f22e', 'Logined', '2026-06-15 06:07:08+00', '2026-06-15 06:07:08+00');

INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, user_type, expired_date) VALUES
	(zstack_tfa.session_key('5e550000000000000000000000000001'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', 'AccountVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e550000000000000000000000000002'), 'a0000000000000000000000000000001', 'a0000000000000000000000000000001', 'AccountVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e550000000000000000000000000003'), 'a0000000000000000000000000000002', 'a0000000000000000000000000000002', 'AccountVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e550000000000000000000000000004'), 'a0000000000000000000000000000003', 'a0000000000000000000000000000003', 'AccountVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e550000000000000000000000000005'), 'a0000000000000000000000000000001', 'e0000000000000000000000000000001', 'IAM2VirtualIDVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e550000000000000000000000000006'), 'a0000000000000000000000000000004', 'a0000000000000000000000000000004', 'AccountVO', now() + interval '1 day'),
	(zstack_tfa.session_key('5e550000000000000000000000000007'), 'a0000000000000000000000000000001', 'a0000000000000000000000000000001', 'AccountVO', now() - interval '1 second');

SELECT name, type FROM zstack_tfa.account ORDER BY name;
SELECT count(*) AS secrets FROM zstack_tfa.secret;
