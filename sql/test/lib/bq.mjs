// The SQL files of sql/, parsed with a BigQuery-dialect parser
// (sql-parser-cst, dialect "bigquery"), and what the tests read off them.

import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'sql-parser-cst';

export const SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DATASET = 'outbound_sales';

// The order the README creates things in: dataset, tables, functions,
// views, then the scheduled queries (which run on their own schedule).
export const SQL_GROUPS = ['ddl', 'udf', 'views', 'scheduled'];

export function sqlFiles(group) {
  const groups = group ? [group] : SQL_GROUPS;
  const out = [];
  for (const g of groups) {
    const dir = join(SQL_DIR, g);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.sql')).sort()) {
      out.push(join(dir, f));
    }
  }
  return out;
}

export function rel(path) {
  return relative(SQL_DIR, path);
}

export function parseBigQuery(src) {
  return parse(src, {
    dialect: 'bigquery',
    paramTypes: ['@name'],
    includeRange: true,
  });
}

// { path, src, statements: [{ node, text, line }] }; throws with the file
// name and the parser's line:column message when a statement does not parse.
export function parseFile(path) {
  const src = readFileSync(path, 'utf8');
  let cst;
  try {
    cst = parseBigQuery(src);
  } catch (e) {
    throw new Error(`${rel(path)}: ${e.message}`);
  }
  const statements = cst.statements
    .filter((s) => s.type !== 'empty')
    .map((node) => ({
      node,
      text: src.slice(node.range[0], node.range[1]),
      line: src.slice(0, node.range[0]).split('\n').length,
    }));
  return { path, src, statements };
}

// Depth-first walk over every CST node (objects with a "type").
export function walk(node, visit, parent = null) {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, visit, parent);
    return;
  }
  if (!node || typeof node !== 'object') return;
  if (node.type && visit(node, parent) === false) return;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'range') continue;
    if (v && typeof v === 'object') walk(v, visit, node.type ? node : parent);
  }
}

// "outbound_sales.events" from identifier / member_expr / quoted forms.
export function qualifiedName(node) {
  if (!node) return null;
  switch (node.type) {
    case 'identifier': return node.name;
    case 'member_expr': {
      const o = qualifiedName(node.object);
      const p = qualifiedName(node.property);
      return o && p ? `${o}.${p}` : null;
    }
    case 'bigquery_quoted_member_expr': return qualifiedName(node.expr);
    default: return null;
  }
}

export function typeName(dt) {
  if (dt.type === 'data_type_name') {
    const n = Array.isArray(dt.name) ? dt.name.map((k) => k.name).join(' ') : dt.name.name;
    return n.toUpperCase();
  }
  if (dt.type === 'parametric_data_type') {
    const inner = dt.params.params.items.map((p) => typeName(p.dataType));
    return `${dt.typeKw.name.toUpperCase()}<${inner.join(', ')}>`;
  }
  throw new Error(`unexpected data type node ${dt.type}`);
}

function optionsOf(clauses) {
  const out = {};
  for (const c of clauses || []) {
    if (c.type !== 'bigquery_options') continue;
    for (const item of c.options.expr.items) {
      out[item.left.name] = item.right.type === 'string_literal' ? item.right.value : item.right;
    }
  }
  return out;
}

// Tables of CREATE TABLE statements: name, columns (name, type, notNull,
// description), partition and cluster expressions, options.
export function tableDefinitions() {
  const tables = new Map();
  for (const path of sqlFiles('ddl')) {
    for (const { node, text } of parseFile(path).statements) {
      if (node.type !== 'create_table_stmt' || !node.columns) continue;
      const name = qualifiedName(node.name);
      const columns = node.columns.expr.items.map((col) => {
        const constraints = col.constraints || [];
        return {
          name: col.name.name,
          type: typeName(col.dataType),
          notNull: constraints.some((c) => c.type === 'constraint_not_null'),
          description: optionsOf(constraints).description,
        };
      });
      const clause = (t) => node.clauses.find((c) => c.type === t);
      const part = clause('partition_by_clause');
      const cluster = clause('cluster_by_clause');
      tables.set(name, {
        name,
        file: rel(path),
        text,
        columns,
        partitionBy: part ? part.specifications.items : [],
        clusterBy: cluster ? cluster.columns.items.map((i) => i.name) : [],
        options: optionsOf(node.clauses),
      });
    }
  }
  return tables;
}

export function loadSchema(table) {
  return JSON.parse(readFileSync(join(SQL_DIR, 'schemas', `${table}.json`), 'utf8'));
}

export function schemaFiles() {
  return readdirSync(join(SQL_DIR, 'schemas'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

// DDL column -> the bq JSON schema field it must equal.
const JSON_TYPE = {
  STRING: 'STRING', INT64: 'INTEGER', BOOL: 'BOOLEAN', FLOAT64: 'FLOAT',
  TIMESTAMP: 'TIMESTAMP', DATE: 'DATE', DATETIME: 'DATETIME', NUMERIC: 'NUMERIC',
  BYTES: 'BYTES', JSON: 'JSON', TIME: 'TIME',
};

export function ddlColumnAsJson(col) {
  let type = col.type;
  let mode = col.notNull ? 'REQUIRED' : 'NULLABLE';
  const m = /^ARRAY<(.+)>$/.exec(type);
  if (m) {
    if (col.notNull) throw new Error(`${col.name}: ARRAY columns cannot be NOT NULL`);
    type = m[1];
    mode = 'REPEATED';
  }
  if (!JSON_TYPE[type]) throw new Error(`${col.name}: no JSON schema type for ${type}`);
  return { name: col.name, type: JSON_TYPE[type], mode, description: col.description ?? '' };
}
