// A reading of sql/scoring/definition.json that needs no database: the
// tests use it to check the vectors against the definition, to derive
// boundary probes from the tiers, and to validate the definition itself.
// It has no points of its own: every number comes from the JSON file.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

export function loadDefinition(path = join(here, 'definition.json')) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

export function loadVectors(path = join(here, 'vectors.json')) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

// Points of one rule for one feature value; null means "no value" (for
// recency: never active), which earns nothing.
export function rulePoints(rule, value) {
  if (value === null || value === undefined) return 0;
  if (rule.compare === 'at_most') {
    if (value < 0) return 0;
    for (const t of rule.tiers) if (value <= t.value) return t.points;
    return 0;
  }
  if (rule.compare === 'at_least') {
    let points = 0;
    for (const t of rule.tiers) if (value >= t.value) points = t.points;
    return points;
  }
  throw new Error(`unknown compare "${rule.compare}"`);
}

export function componentPoints(component, features) {
  let sum = 0;
  for (const rule of component.rules) sum += rulePoints(rule, features[rule.feature]);
  return Math.min(sum, component.max);
}

export function levelOf(def, total) {
  for (const l of def.levels) if (total >= l.min) return l.name;
  throw new Error(`no level for ${total}`);
}

// features: { seconds_since_last_activity: number|null, sessions: n, ... }
export function score(def, features) {
  const out = {};
  let total = 0;
  for (const c of def.components) {
    out[c.name] = componentPoints(c, features);
    total += out[c.name];
  }
  out.total = Math.min(total, def.max_score);
  out.level = levelOf(def, out.total);
  return out;
}

// Lowercased path of a URL: the rule the SQL (outbound_sales.url_path) and
// the C (oie_score_url_path) implement.
export function urlPath(url) {
  if (url === null || url === undefined) return null;
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?([^?#]*)/.exec(url.toLowerCase());
  return m[1] === '' ? '/' : m[1];
}

export function pathMatches(match, pattern, path) {
  switch (match) {
    case 'exact': return path === pattern;
    case 'prefix': return path.startsWith(pattern);
    case 'segment': return (path + '/').includes(pattern + '/');
    case 'contains': return path.includes(pattern);
    default: throw new Error(`unknown match type "${match}"`);
  }
}

export function isHighIntent(def, url) {
  const path = urlPath(url);
  if (path === null) return false;
  return def.high_intent_patterns.some((p) => pathMatches(p.match, p.pattern, path));
}

// Structural checks; returns a list of problems (empty when sound).
export function validateDefinition(def) {
  const problems = [];
  const features = new Set(def.features);
  let maxSum = 0;
  for (const c of def.components) {
    maxSum += c.max;
    if (!Number.isInteger(c.max) || c.max <= 0) problems.push(`${c.name}: bad max`);
    let reach = 0;
    for (const r of c.rules) {
      if (!features.has(r.feature)) problems.push(`${c.name}: unknown feature ${r.feature}`);
      if (!['at_least', 'at_most'].includes(r.compare)) problems.push(`${c.name}: bad compare`);
      if (!r.tiers.length) problems.push(`${c.name}/${r.feature}: no tiers`);
      for (let i = 0; i < r.tiers.length; i++) {
        const t = r.tiers[i];
        if (!Number.isInteger(t.value) || !Number.isInteger(t.points) || t.points <= 0) {
          problems.push(`${c.name}/${r.feature}: tier ${i} not positive integers`);
        }
        if (i > 0) {
          const p = r.tiers[i - 1];
          if (t.value <= p.value) problems.push(`${c.name}/${r.feature}: values not ascending`);
          if (r.compare === 'at_least' && t.points <= p.points) {
            problems.push(`${c.name}/${r.feature}: points must rise with the value`);
          }
          if (r.compare === 'at_most' && t.points >= p.points) {
            problems.push(`${c.name}/${r.feature}: points must fall with the value`);
          }
        }
      }
      if (r.compare === 'at_least' && r.tiers[0] && r.tiers[0].value < 1) {
        problems.push(`${c.name}/${r.feature}: a zero counter must earn nothing`);
      }
      reach += Math.max(...r.tiers.map((t) => t.points));
    }
    if (reach < c.max) problems.push(`${c.name}: its rules cannot reach max ${c.max}`);
  }
  if (maxSum < def.max_score) problems.push(`components cannot reach ${def.max_score}`);
  const mins = def.levels.map((l) => l.min);
  for (let i = 1; i < mins.length; i++) {
    if (mins[i] >= mins[i - 1]) problems.push('levels must be listed from the highest min down');
  }
  if (mins[mins.length - 1] !== 0) problems.push('the last level must start at 0');
  for (const p of def.high_intent_patterns) {
    if (!['exact', 'prefix', 'segment', 'contains'].includes(p.match)) {
      problems.push(`pattern ${p.pattern}: bad match ${p.match}`);
    }
    if (!p.pattern || p.pattern !== p.pattern.toLowerCase()) {
      problems.push(`pattern "${p.pattern}" must be non-empty lowercase`);
    }
    if (/[?#]/.test(p.pattern)) problems.push(`pattern ${p.pattern}: ? and # never occur in a path`);
    if (p.match !== 'contains' && !p.pattern.startsWith('/')) {
      problems.push(`pattern ${p.pattern}: ${p.match} patterns start with /`);
    }
    if (p.match === 'segment' && p.pattern.endsWith('/')) {
      problems.push(`pattern ${p.pattern}: segment patterns do not end with /`);
    }
  }
  for (const e of def.conversion_events) {
    if (typeof e !== 'string' || !e) problems.push('conversion event names are non-empty strings');
  }
  return problems;
}
