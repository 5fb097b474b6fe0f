#!/usr/bin/env bash
# The zstack_tfa demo: installs what is missing (apt-get), builds, installs,
# starts a throwaway PostgreSQL 15 cluster in a temporary folder, loads a
# realistic sample and prints real API replies.  The cluster is removed at
# the end; `--keep` leaves it running and prints how to connect.
set -eu
. "$(dirname "$0")/lib.sh"
cd "$ZT_ROOT"
keep=0
for arg in "$@"; do
	case "$arg" in
		--keep) keep=1 ;;
		*) echo "usage: $0 [--keep]" >&2; exit 2 ;;
	esac
done

echo "== installing packages and building"
zt_install_deps
zt_build_install
zt_start_cluster
if [ "$keep" = 1 ]; then ZT_KEEP=1; trap - EXIT; fi
echo "== throwaway cluster at $ZT_CLUSTER"

psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -f scripts/sample.sql

echo
echo "== the admin's view (GET /zstack/v1/twofactorauthentication/secrets?limit=3&sort=-createDate)"
psql -X -At -c "SELECT zstack_tfa.query_two_factor_authentication_json(
	(zstack_tfa.log_in_by_account('admin', 'demo-admin-password')->'inventory'->>'uuid'),
	\"limit\" => 3, sort => '-createDate', reply_with_count => true)"
echo
echo "== a normal account (alice) sees her own secret and her IAM2 users'"
psql -X -At -c "SELECT zstack_tfa.query_two_factor_authentication_json(
	(zstack_tfa.log_in_by_account('alice', 'alice-password')->'inventory'->>'uuid'),
	sort => 'createDate', fields => '{uuid,userUuid,userType,status}')"
echo
echo "== conditions: the admin asks for Logined IAM2 users' secrets, count only"
psql -X -At -c "SELECT zstack_tfa.query_two_factor_authentication_json(
	(zstack_tfa.log_in_by_account('admin', 'demo-admin-password')->'inventory'->>'uuid'),
	'{status=Logined,userType=IAM2VirtualIDVO}', count => true)"
echo
echo "== the same through the set-returning function"
psql -X -c "SELECT uuid, user_type, status, create_date FROM zstack_tfa.query_two_factor_authentication(
	(zstack_tfa.log_in_by_account('alice', 'alice-password')->'inventory'->>'uuid'),
	'{status=Logined}')"
echo "== errors are ZStack envelopes"
psql -X -At -c "SELECT zstack_tfa.query_two_factor_authentication_json('0123456789abcdef0123456789abcdef')"
psql -X -At -c "SELECT zstack_tfa.query_two_factor_authentication_json(
	(zstack_tfa.log_in_by_account('admin', 'demo-admin-password')->'inventory'->>'uuid'), '{status=Enabled}')"

if [ "$keep" = 1 ]; then
	echo
	echo "== the cluster keeps running; connect with:"
	echo "   PGHOST=$PGHOST PGUSER=postgres psql"
	echo "   stop it with: $([ "$(id -u)" -eq 0 ] && echo 'runuser -u postgres -- ')$PGBIN/pg_ctl -D $ZT_CLUSTER/data stop"
fi
