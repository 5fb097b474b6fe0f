-- Pinned data for the HTTP end-to-end test: fixed uuids, dates and sessions,
-- so replies can be checked byte for byte.
CREATE EXTENSION zstack_tfa;
SET client_min_messages = warning;
SELECT zstack_tfa.set_account_password('admin', 'admin-password');
INSERT INTO zstack_tfa.account (uuid, name, password_hash, type) VALUES
	('a0000000000000000000000000000001', 'alice', zstack_tfa.hash_password('alice-password'), 'Normal');
INSERT INTO zstack_tfa.iam2_virtual_id (uuid, name, password_hash, account_uuid) VALUES
	('e0000000000000000000000000000001', 'alice-dev', zstack_tfa.hash_password('dev-password'), 'a0000000000000000000000000000001');
INSERT INTO zstack_tfa.secret
	(uuid, secret, user_uuid, user_type, account_uuid, status, create_date, last_op_date) VALUES
	('f0000000000000000000000000000001', 'JBSWY3DPEHPK3PXP', 'a0000000000000000000000000000001', 'AccountVO', 'a0000000000000000000000000000001', 'NewCreated', '2026-01-10 09:00:00+00', '2026-01-10 09:00:00+00'),
	('f0000000000000000000000000000002', 'GEZDGNBVGY3TQOJQ', 'e0000000000000000000000000000001', 'IAM2VirtualIDVO', 'a0000000000000000000000000000001', 'Logined', '2026-02-11 13:30:00+00', '2026-02-12 20:15:00+00'),
	('f0000000000000000000000000000003', 'NB2HI4DTHIXS653X', '36c27e8ff05c4780bf6d2fa65700f22e', 'AccountVO', '36c27e8ff05c4780bf6d2fa65700f22e', 'Logined', '2026-06-15 06:07:08+00', '2026-06-15 06:07:08+00');
INSERT INTO zstack_tfa.session (uuid, account_uuid, user_uuid, expired_date) VALUES
	(zstack_tfa.session_key('5e550000000000000000000000000001'), '36c27e8ff05c4780bf6d2fa65700f22e', '36c27e8ff05c4780bf6d2fa65700f22e', now() + interval '1 day'),
	(zstack_tfa.session_key('5e550000000000000000000000000002'), 'a0000000000000000000000000000001', 'a0000000000000000000000000000001', now() + interval '1 day'),
	(zstack_tfa.session_key('5e550000000000000000000000000003'), 'a0000000000000000000000000000001', 'a0000000000000000000000000000001', now() - interval '1 second');
