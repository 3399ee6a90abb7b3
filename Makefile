# pg_flowview: PGXS build.
#
#   make && make install         build and install into the PostgreSQL 15 tree
#   make demo / make demo-stop   the demo on a throwaway cluster (see README)
#   make test                    every suite on a throwaway cluster (see README)
#
# The demo and test targets install what is missing (apt) before they build,
# so they work even when PGXS itself is not installed yet.

EXTENSION   = pg_flowview
MODULE_big  = pg_flowview
OBJS        = src/pg_flowview.o \
              src/decoder/output_plugin.o \
              src/decoder/json_value.o \
              src/views/analyze.o \
              src/views/create.o \
              src/views/join.o \
              src/views/session.o \
              src/worker/batch_snapshot.o \
              src/worker/join_delta.o \
              src/worker/retention.o \
              src/worker/window.o \
              src/views/ddl.o \
              src/views/source_ddl.o \
              src/views/alert.o \
              src/views/lineage.o \
              src/views/security.o \
              src/views/runas.o \
              src/views/storage_guard.o \
              src/views/versions.o \
              src/views/restore.o \
              src/views/feed.o \
              src/catalog_lock.o \
              src/worker/launcher.o \
              src/worker/sources.o \
              src/worker/decode.o \
              src/worker/backfill.o \
              src/worker/batch.o \
              src/worker/apply.o \
              src/worker/progress.o \
              src/worker/apply_worker.o \
              src/worker/freshness.o \
              src/worker/monitor.o \
              src/worker/dropdb.o \
              src/worker/standby.o
DATA        = $(wildcard sql/pg_flowview--*.sql)
DOCS        = contrib/postgres_exporter/flowview.yaml
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS   = -Wall -Wmissing-prototypes

# pg_regress (sql/, expected/, order in test/regress_schedule) and isolation
# specs run against the cluster
# started by test/run-all.sh; see that script for the environment they expect.
REGRESS      = $(shell sed -n "s/^test: //p" test/regress_schedule)
REGRESS_OPTS = --inputdir=.
ISOLATION      = $(basename $(notdir $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation --dbname=fv_isolation

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all:
	@echo "PGXS not found: install postgresql-server-dev-15 (or run 'make test' / 'make demo', which do)" >&2; exit 1
endif

# PGXS does not track header dependencies: every object depends on every header
$(OBJS): $(wildcard src/*.h src/*/*.h)

.PHONY: test demo demo-stop
test:
	bash test/run-all.sh
demo:
	bash scripts/demo.sh
demo-stop:
	bash scripts/demo.sh stop
