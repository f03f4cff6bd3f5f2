// Value validation for the KV editor: JSON by the browser's parser, YAML by a structural
// check of the block style (indentation, mappings, sequences, quotes, flow brackets) -
// what catches the usual hand-editing mistakes without a YAML library.

export function detect(text) {
  const t = text.trim();
  if (!t) return 'text';
  if (/^[[{]/.test(t)) return 'json';
  if (/^(---|[\w"'.-]+\s*:(\s|$)|-\s)/m.test(t.split('\n')[0])) return 'yaml';
  return 'text';
}

export function validateJson(text) {
  try { JSON.parse(text); return null; } catch (err) { return `Invalid JSON: ${err.message}`; }
}

function balanced(s) {
  const stack = [];
  let quote = null;
  for (let i = 0; i < s.length; i += 1) {
    const c = s[i];
    if (quote) { if (c === '\\' && quote === '"') i += 1; else if (c === quote) quote = null; continue; }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) break;
    else if (c === '[' || c === '{') stack.push(c);
    else if (c === ']' || c === '}') { if (stack.pop() !== (c === ']' ? '[' : '{')) return 'unbalanced brackets'; }
  }
  if (quote) return 'unterminated quote';
  return stack.length ? 'unclosed bracket' : null;
}

export function validateYaml(text) {
  const lines = text.split('\n');
  const indents = [0];
  let opened = false; // the previous line opened a block (ends with ':' or is '- key:')
  let scalar = -1; // indentation of a block scalar (| or >) being read
  for (let n = 0; n < lines.length; n += 1) {
    const line = lines[n];
    const where = `line ${n + 1}`;
    if (!line.trim() || /^\s*#/.test(line) || /^(---|\.\.\.)\s*$/.test(line)) continue;
    const indent = line.match(/^ */)[0].length;
    if (scalar >= 0) { if (indent > scalar) continue; scalar = -1; }
    if (/^ *\t/.test(line)) return `Invalid YAML: ${where}: tabs are not allowed in indentation`;
    const body = line.slice(indent);
    const top = indents[indents.length - 1];
    if (indent > top) {
      if (!opened) return `Invalid YAML: ${where}: unexpected indentation`;
      indents.push(indent);
    } else {
      while (indents.length && indent < indents[indents.length - 1]) indents.pop();
      if (indent !== indents[indents.length - 1]) return `Invalid YAML: ${where}: indentation does not match any outer level`;
    }
    const problem = balanced(body);
    if (problem) return `Invalid YAML: ${where}: ${problem}`;
    const item = body.replace(/^-( +|$)/, '');
    const key = item.match(/^("[^"]*"|'[^']*'|[^\s"'#{[][^:#]*?)\s*:(\s+(.*))?$/);
    if (body.startsWith('-') && !/^-( |$)/.test(body)) return `Invalid YAML: ${where}: a list item needs a space after '-'`;
    if (!key && !body.startsWith('- ') && body !== '-' && indents.length === 1 && n > 0 && !/^[[{"']/.test(body)) {
      return `Invalid YAML: ${where}: expected "key: value" or "- item"`;
    }
    const value = key ? (key[3] || '') : item;
    if (/^[|>][-+]?\d*\s*$/.test(value)) { scalar = indent; opened = false; continue; }
    opened = Boolean(key && !value) || body === '-';
    if (body.startsWith('- ') && key) indents.push(indent + 2);
  }
  return null;
}

export function validate(format, text) {
  if (format === 'json') return validateJson(text);
  if (format === 'yaml') return validateYaml(text);
  return null;
}
