# sql/: BigQuery DDL, views and scheduled queries.  Nothing to compile; the
# checks (sql/test/*.test.mjs, run by make test) need the npm packages of
# sql/package-lock.json: sql-parser-cst (BigQuery parser) and DuckDB.

SQL_STAMP := sql/node_modules/.stamp

BUILD_TARGETS += $(SQL_STAMP)

$(SQL_STAMP): sql/package.json sql/package-lock.json
	@cd sql && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: sql-test
sql-test: $(SQL_STAMP)
	@cd sql && node --test test/
