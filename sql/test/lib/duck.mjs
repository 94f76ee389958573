// Runs the BigQuery SQL of sql/ in DuckDB, to execute the logic on fixtures.
//
// DuckDB is not BigQuery.  The statements are parsed as BigQuery (the same
// parse the syntax test does) and re-emitted from the syntax tree with a
// short, closed list of rewrites; anything outside that list (an unknown
// function, a parameter other than @run_time, an escaped string) throws
// instead of running under different rules.  The rewrites:
//
//   `a.b`, `x`                      a.b, "x"
//   @run_time, CURRENT_TIMESTAMP()  TIMESTAMP '<the run time of the test>'
//   STRING INT64 BOOL FLOAT64       VARCHAR BIGINT BOOLEAN DOUBLE
//   r'...'                          '...' (DuckDB strings keep backslashes)
//   OPTIONS (...)                   dropped (descriptions)
//   CREATE FUNCTION f(x T) RETURNS T AS (e)   CREATE MACRO f(x) AS (e)
//   TIMESTAMP_DIFF(a, b, U)         date_sub('U', b, a)  (whole units, truncated)
//   TIMESTAMP_SUB/ADD(a, INTERVAL)  (a - INTERVAL), (a + INTERVAL)
//   REGEXP_CONTAINS(s, r)           regexp_matches(s, r)
//   REGEXP_EXTRACT(s, r)            CASE WHEN regexp_matches(s, r)
//                                   THEN regexp_extract(s, r, 1) END (NULL on no match)
//   UNIX_MILLIS(t), UNIX_SECONDS(t) epoch_ms(t), CAST(floor(epoch(t)) AS BIGINT)
//   GREATEST/LEAST(...)             NULL when any argument is NULL, as in BigQuery
//   CONCAT(...)                     a || b (NULL when any argument is NULL)
//   SAFE_DIVIDE(a, b)               CASE WHEN b = 0 THEN NULL ELSE a / b END
//   LOGICAL_OR/AND                  bool_or/and
//   DATE(t), TIMESTAMP_TRUNC(t, U)  CAST(t AS DATE), date_trunc('U', t)
//
// Functions that mean the same in both engines pass through (PASS below).

import { DuckDBInstance } from '@duckdb/node-api';
import { parseFile, rel, loadSchema, schemaFiles, DATASET } from './bq.mjs';

const PASS = new Set([
  'ANY_VALUE', 'ARRAY_AGG', 'AVG', 'COALESCE', 'COUNT', 'COUNTIF', 'FIRST_VALUE',
  'IF', 'IFNULL', 'LAG', 'LAST_VALUE', 'LEAD', 'LENGTH', 'LOWER', 'MAX', 'MAX_BY',
  'MIN', 'MIN_BY', 'NULLIF', 'ROUND', 'ROW_NUMBER', 'STARTS_WITH', 'STRPOS', 'SUM',
  'UPPER',
]);

const TYPES = { STRING: 'VARCHAR', INT64: 'BIGINT', BOOL: 'BOOLEAN', FLOAT64: 'DOUBLE', TIMESTAMP: 'TIMESTAMP', DATE: 'DATE' };

export class TranslationError extends Error {}

function childNodes(node) {
  const out = [];
  const visit = (v) => {
    if (Array.isArray(v)) { v.forEach(visit); return; }
    if (v && typeof v === 'object' && v.range) out.push(v);
  };
  for (const [k, v] of Object.entries(node)) if (k !== 'range') visit(v);
  return out.sort((a, b) => a.range[0] - b.range[0]);
}

function funcArgs(node) {
  const fa = node.args?.expr;
  if (!fa || fa.type !== 'func_args') throw new TranslationError(`unexpected call shape of ${node.name.name}`);
  if (fa.distinctKw || fa.orderBy || fa.nullHandling || fa.limit) return null; // only for PASS functions
  return fa.args.items;
}

function captureGroups(re) {
  let n = 0;
  for (let i = 0; i < re.length; i++) {
    if (re[i] === '\\') { i++; continue; }
    if (re[i] === '(' && re[i + 1] !== '?') n++;
  }
  return n;
}

export function translate(stmt, src, ctx) {
  const ts = `TIMESTAMP '${ctx.runTime}'`;
  const text = (n) => src.slice(n.range[0], n.range[1]);

  const render = (node) => {
    const custom = rewrite(node);
    if (custom !== undefined) return custom;
    let out = '';
    let pos = node.range[0];
    for (const k of childNodes(node)) {
      out += src.slice(pos, k.range[0]) + render(k);
      pos = k.range[1];
    }
    return out + src.slice(pos, node.range[1]);
  };

  const args = (node, n) => {
    const a = funcArgs(node);
    if (!a || (n !== undefined && a.length !== n)) {
      throw new TranslationError(`${node.name.name}: unexpected arguments in "${text(node)}"`);
    }
    return a.map(render);
  };

  const rewrite = (node) => {
    switch (node.type) {
      case 'bigquery_options':
        return '';
      case 'identifier':
        if (node.text.startsWith('`')) {
          return node.name.split('.').map((p) => (/^[a-z_][a-z0-9_]*$/i.test(p) ? p : `"${p}"`)).join('.');
        }
        return undefined;
      case 'bigquery_quoted_member_expr':
        return render(node.expr).replace(/`/g, '');
      case 'parameter':
        if (node.text === '@run_time') return ts;
        throw new TranslationError(`unknown query parameter ${node.text}`);
      case 'data_type_name': {
        const n = node.name.name.toUpperCase();
        if (!TYPES[n]) throw new TranslationError(`no DuckDB type for ${n}`);
        return TYPES[n];
      }
      case 'string_literal': {
        const t = node.text;
        if (/^[rR]'/.test(t)) {
          if (node.value.includes("'")) throw new TranslationError(`quote in raw string ${t}`);
          return `'${node.value}'`;
        }
        if (/^[rRbB]/.test(t) || t.startsWith('"""') || t.startsWith("'''")) {
          throw new TranslationError(`unsupported string literal ${t}`);
        }
        if (t.slice(1, -1).includes('\\')) throw new TranslationError(`escaped string ${t}: write it as r'...'`);
        return `'${node.value.replace(/'/g, "''")}'`;
      }
      case 'create_function_stmt': {
        const name = render(node.name);
        const params = node.params.expr.items.map((p) => p.name.name);
        const body = node.clauses.find((c) => c.type === 'as_clause');
        if (!body) throw new TranslationError(`function ${name} has no SQL body`);
        return `CREATE OR REPLACE MACRO ${name}(${params.join(', ')}) AS ${render(body.expr)}`;
      }
      case 'create_schema_stmt':
        return `CREATE SCHEMA IF NOT EXISTS ${render(node.name)}`;
      case 'func_call':
        return rewriteCall(node);
      default:
        return undefined;
    }
  };

  const rewriteCall = (node) => {
    if (node.name.type !== 'identifier') {
      // dataset functions (outbound_sales.f): macros of the same name
      if (node.name.type === 'member_expr' && node.name.object.name === DATASET) return undefined;
      throw new TranslationError(`unexpected function name in "${text(node)}"`);
    }
    const name = node.name.name.toUpperCase();
    if (node.over) {
      if (!PASS.has(name)) throw new TranslationError(`window function ${name} not known to match`);
      return undefined;
    }
    switch (name) {
      case 'CURRENT_TIMESTAMP':
        args(node, 0);
        return ts;
      case 'TIMESTAMP_DIFF': {
        const [a, b] = args(node, 3);
        const unit = funcArgs(node)[2];
        return `date_sub('${(unit.name || unit.text).toLowerCase()}', ${b}, ${a})`;
      }
      case 'TIMESTAMP_SUB':
      case 'TIMESTAMP_ADD': {
        const [a, i] = args(node, 2);
        return `(${a} ${name === 'TIMESTAMP_SUB' ? '-' : '+'} ${i})`;
      }
      case 'REGEXP_CONTAINS': {
        const [s, r] = args(node, 2);
        return `regexp_matches(${s}, ${r})`;
      }
      case 'REGEXP_EXTRACT': {
        const [s, r] = args(node, 2);
        const lit = funcArgs(node)[1];
        if (lit.type !== 'string_literal') throw new TranslationError('REGEXP_EXTRACT needs a literal pattern');
        const groups = captureGroups(lit.value);
        if (groups > 1) throw new TranslationError('REGEXP_EXTRACT with more than one capture group');
        return `(CASE WHEN regexp_matches(${s}, ${r}) THEN regexp_extract(${s}, ${r}, ${groups}) END)`;
      }
      case 'UNIX_MILLIS':
        return `epoch_ms(${args(node, 1)[0]})`;
      case 'UNIX_SECONDS':
        return `CAST(floor(epoch(${args(node, 1)[0]})) AS BIGINT)`;
      case 'GREATEST':
      case 'LEAST': {
        const a = args(node);
        return `(CASE WHEN ${a.map((x) => `(${x}) IS NULL`).join(' OR ')} THEN NULL ELSE ${name.toLowerCase()}(${a.join(', ')}) END)`;
      }
      case 'CONCAT':
        return `(${args(node).map((x) => `(${x})`).join(' || ')})`;
      case 'SAFE_DIVIDE': {
        const [a, b] = args(node, 2);
        return `(CASE WHEN (${b}) = 0 THEN NULL ELSE (${a}) / (${b}) END)`;
      }
      case 'LOGICAL_OR':
        return `bool_or(${args(node, 1)[0]})`;
      case 'LOGICAL_AND':
        return `bool_and(${args(node, 1)[0]})`;
      case 'DATE':
        return `CAST(${args(node, 1)[0]} AS DATE)`;
      case 'TIMESTAMP_TRUNC': {
        const [t] = args(node, 2);
        const unit = funcArgs(node)[1];
        return `date_trunc('${(unit.name || unit.text).toLowerCase()}', ${t})`;
      }
      default:
        if (PASS.has(name)) return undefined;
        throw new TranslationError(`no DuckDB translation for function ${name}`);
    }
  };

  return render(stmt);
}

const DUCK_TYPE = { STRING: 'VARCHAR', INTEGER: 'BIGINT', BOOLEAN: 'BOOLEAN', FLOAT: 'DOUBLE', TIMESTAMP: 'TIMESTAMP', DATE: 'DATE' };

export function columnType(field) {
  const t = DUCK_TYPE[field.type];
  if (!t) throw new Error(`no DuckDB type for ${field.type}`);
  return field.mode === 'REPEATED' ? `${t}[]` : t;
}

// One in-memory DuckDB with the dataset's tables made from sql/schemas
// (REQUIRED columns become NOT NULL, so rows the SQL writes are checked).
export async function openWarehouse(runTime) {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run("SET TimeZone = 'UTC'");
  await conn.run(`CREATE SCHEMA ${DATASET}`);
  const schemas = {};
  for (const table of schemaFiles()) {
    const fields = loadSchema(table);
    schemas[table] = fields;
    const cols = fields.map((f) => `${f.name} ${columnType(f)}${f.mode === 'REQUIRED' ? ' NOT NULL' : ''}`);
    await conn.run(`CREATE TABLE ${DATASET}.${table} (${cols.join(', ')})`);
  }
  const wh = {
    conn,
    schemas,
    runTime,
    async query(sql) {
      const r = await conn.runAndReadAll(sql);
      return r.getRowObjectsJson();
    },
    // Runs every statement of a file of sql/, translated; errors name the
    // file and the line of the statement.
    async runFile(path) {
      const { src, statements } = parseFile(path);
      for (const s of statements) {
        let sql;
        try {
          sql = translate(s.node, src, { runTime: this.runTime });
        } catch (e) {
          throw new Error(`${rel(path)}:${s.line}: ${e.message}`);
        }
        try {
          await conn.run(sql);
        } catch (e) {
          throw new Error(`${rel(path)}:${s.line}: DuckDB: ${e.message}\n--- translated:\n${sql}`);
        }
      }
    },
    async insert(table, rows) {
      const fields = schemas[table];
      if (!fields) throw new Error(`no schema for ${table}`);
      const known = new Set(fields.map((f) => f.name));
      for (const row of rows) {
        for (const k of Object.keys(row)) {
          if (!known.has(k)) throw new Error(`${table}: fixture column ${k} is not in the schema`);
        }
        const vals = fields.map((f) => literal(row[f.name], f));
        await conn.run(`INSERT INTO ${DATASET}.${table} (${fields.map((f) => f.name).join(', ')}) VALUES (${vals.join(', ')})`);
      }
    },
    close() {
      conn.closeSync?.();
      instance.closeSync?.();
    },
  };
  return wh;
}

function quote(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

function literal(v, field) {
  if (v === undefined || v === null) return field.mode === 'REPEATED' ? '[]' : 'NULL';
  if (field.mode === 'REPEATED') {
    if (!Array.isArray(v)) throw new Error(`${field.name}: expected an array`);
    return `CAST([${v.map((x) => literal(x, { ...field, mode: 'NULLABLE' })).join(', ')}] AS ${columnType(field)})`;
  }
  switch (field.type) {
    case 'STRING': return quote(v);
    case 'INTEGER':
      if (!Number.isInteger(v)) throw new Error(`${field.name}: ${v} is not an integer`);
      return String(v);
    case 'BOOLEAN': return v ? 'TRUE' : 'FALSE';
    case 'TIMESTAMP': return `TIMESTAMP ${quote(new Date(v).toISOString().replace('T', ' ').replace('Z', ''))}`;
    default: return `CAST(${quote(v)} AS ${columnType(field)})`;
  }
}
