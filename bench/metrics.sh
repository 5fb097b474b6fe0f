#!/usr/bin/env bash
# What the metrics of issue 20 cost a 2FA login with the right code: the
# work tree (1.3 and on: replays told apart from wrong codes in the login
# path; zstack_tfa.metrics read, after roll_up_logins() as queries.yaml has
# it, at the start of every pgbench run of the new build and every
# SCRAPE_SECONDS after, as an exporter scrapes) against the build
# before issue 20 (1.2, no metrics), in one run with the same data and
# settings: bench/against.sh's clusters, rounds and medians; then the time of
# one scrape.  The bar: new / old TPS ≥ 0.95 for the right code (and a wrong
# code's time per call no worse).  About 5 minutes.
#   bash bench/metrics.sh [REF]     # REF defaults to the commit before issue 20
#   BENCH_SECONDS=5 RUNS=5 SCRAPE_SECONDS=15 (the defaults: one scrape a
#   5-second run, three times an exporter's usual rate)
set -u
cd "$(dirname "$0")/.." || exit 1
REF=${1:-87f66e1}
export SCRAPE_SECONDS=${SCRAPE_SECONDS:-15}
export WORKLOADS=${WORKLOADS:-right wrong}
echo "the metrics' cost: the work tree (metrics read every ${SCRAPE_SECONDS} s) against $REF (before issue 20)"
exec bash bench/against.sh "$REF"
