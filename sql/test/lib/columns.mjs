// A column-reference check on the BigQuery syntax tree, against the JSON
// schemas: independent of DuckDB, so a name DuckDB happens to accept still
// has to exist in the dataset.
//
//   alias.column    where alias is a dataset table: the column must be in
//                   that table's schema
//   INSERT (cols), MERGE ... INSERT (cols), UPDATE SET col: the target's
//   outbound_sales.T: T is a table of the schemas (or one a statement of
//                   sql/ creates); outbound_sales.f(...): f is a function
//                   of sql/udf
//   any other name: a column of a table the statement reads, or a name the
//                   statement defines (alias, CTE, parameter, window), or a
//                   date part

import { DATASET, qualifiedName } from './bq.mjs';

const DATE_PARTS = new Set(['MICROSECOND', 'MILLISECOND', 'SECOND', 'MINUTE', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'QUARTER', 'YEAR', 'DATE']);

function walkCtx(node, visit, parent = null, key = null) {
  if (Array.isArray(node)) {
    for (const n of node) walkCtx(n, visit, parent, key);
    return;
  }
  if (!node || typeof node !== 'object') return;
  if (node.type) {
    if (visit(node, parent, key) === false) return;
  }
  for (const [k, v] of Object.entries(node)) {
    if (k === 'range') continue;
    if (v && typeof v === 'object') walkCtx(v, visit, node.type ? node : parent, node.type ? k : key);
  }
}

function datasetTable(node) {
  if (node?.type === 'member_expr' && node.object.type === 'identifier' && node.object.name === DATASET
    && node.property.type === 'identifier') {
    return node.property.name;
  }
  if (node?.type === 'bigquery_quoted_member_expr') {
    const q = qualifiedName(node);
    if (q && q.startsWith(`${DATASET}.`)) return q.slice(DATASET.length + 1);
  }
  return null;
}

// tables: Map(name -> Set of columns, or null when unknown);
// functions: Set of dataset function names.  Returns a list of problems.
export function columnProblems(stmt, { tables, functions }) {
  const problems = [];
  const ctes = new Set();
  const aliases = new Map();
  const defined = new Set();
  const read = new Set();

  walkCtx(stmt, (n) => {
    if (n.type === 'common_table_expr') ctes.add(n.table.name);
  });

  // definitions and the tables read
  walkCtx(stmt, (n, parent, key) => {
    switch (n.type) {
      case 'common_table_expr':
        defined.add(n.table.name);
        break;
      case 'alias': {
        defined.add(n.alias.name);
        const t = datasetTable(n.expr);
        let meaning = { derived: true };
        if (t) meaning = { table: t };
        else if (n.expr.type === 'identifier' && ctes.has(n.expr.name)) meaning = { cte: n.expr.name };
        const before = aliases.get(n.alias.name);
        // the same alias in two scopes with two meanings: check it loosely
        if (before && JSON.stringify(before) !== JSON.stringify(meaning)) meaning = { ambiguous: true };
        aliases.set(n.alias.name, meaning);
        break;
      }
      case 'function_param':
      case 'named_window':
        defined.add(n.name.name);
        break;
      case 'member_expr':
      case 'bigquery_quoted_member_expr': {
        const t = datasetTable(n);
        if (!t) break;
        if (parent?.type === 'func_call' && key === 'name') {
          if (!functions.has(t)) problems.push(`unknown function ${DATASET}.${t}`);
        } else if (['create_function_stmt', 'create_view_stmt'].includes(parent?.type) && key === 'name') {
          // a definition
        } else if (!tables.has(t)) {
          problems.push(`unknown table ${DATASET}.${t}`);
        } else if (!(parent?.type === 'create_table_stmt' && key === 'name')) {
          read.add(t);
        }
        return false;
      }
      default:
        break;
    }
    return undefined;
  });

  const loose = new Set([...defined, ...ctes]);
  for (const t of read) for (const c of tables.get(t) || []) loose.add(c);
  const columnsOf = (t) => tables.get(t);

  const strict = (table, name, where) => {
    const cols = columnsOf(table);
    if (cols && !cols.has(name)) problems.push(`${where}: ${table} has no column ${name}`);
  };

  let target = null;
  walkCtx(stmt, (n, parent, key) => {
    if (n.type === 'merge_clause') {
      target = datasetTable(n.target.type === 'alias' ? n.target.expr : n.target);
    }
    if (n.type === 'insert_clause') {
      const t = datasetTable(n.table.type === 'alias' ? n.table.expr : n.table);
      for (const c of n.columns?.expr.items || []) strict(t, c.name, 'INSERT');
      return false;
    }
    if (n.type === 'merge_action_insert') {
      for (const c of n.columns?.expr.items || []) strict(target, c.name, 'MERGE INSERT');
      walkCtx(n.clauses, (m, p, k) => visitExpr(m, p, k));
      return false;
    }
    if (n.type === 'column_assignment') {
      strict(target, n.column.name, 'UPDATE SET');
      walkCtx(n.expr, (m, p, k) => visitExpr(m, p, k));
      return false;
    }
    return visitExpr(n, parent, key);
  });

  function visitExpr(n, parent, key) {
    switch (n.type) {
      case 'bigquery_options':
      case 'column_definition':
      case 'cluster_by_clause':
      case 'partition_by_clause':
      case 'create_schema_stmt':
        return false;
      case 'member_expr': {
        if (datasetTable(n)) return false;
        if (n.object.type !== 'identifier') return undefined;
        const a = aliases.get(n.object.name);
        if (!a) {
          if (!ctes.has(n.object.name)) problems.push(`unknown alias ${n.object.name} in ${n.object.name}.${n.property.name ?? '*'}`);
          return false;
        }
        if (n.property.type === 'all_columns') return false;
        if (a.table) strict(a.table, n.property.name, `${n.object.name}.${n.property.name}`);
        else if (!loose.has(n.property.name)) problems.push(`unknown column ${n.object.name}.${n.property.name}`);
        return false;
      }
      case 'identifier': {
        if (parent?.type === 'func_call' && key === 'name') return false;
        if (['alias', 'common_table_expr', 'function_param', 'named_window', 'create_function_stmt', 'create_table_stmt', 'create_view_stmt'].includes(parent?.type)
          && ['alias', 'table', 'name'].includes(key)) return false;
        if (parent?.type === 'over_arg' && key === 'window') {
          if (!defined.has(n.name)) problems.push(`unknown window ${n.name}`);
          return false;
        }
        if (DATE_PARTS.has(n.name.toUpperCase()) && parent?.type === 'list_expr') return false;
        if (!loose.has(n.name)) problems.push(`unknown name ${n.name}`);
        return false;
      }
      default:
        return undefined;
    }
  }

  return problems;
}
