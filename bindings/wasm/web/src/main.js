// weir's browser pattern tester: rules and events (EventBridge) or FilterCriteria and records
// (Lambda), matched by weir compiled to WebAssembly, as you type.

import init, * as weir from "../pkg/weir_wasm.js";
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, keymap, lineNumbers, highlightActiveLine } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { HighlightStyle, syntaxHighlighting, bracketMatching } from "@codemirror/language";
import { setDiagnostics } from "@codemirror/lint";
import { tags } from "@lezer/highlight";
import { EXAMPLES, example } from "./examples.js";
import { encodeState, decodeState } from "./state.js";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
};

// At most this many events or records are listed (all are matched and counted).
const SHOWN = 500;

const highlight = HighlightStyle.define([
  { tag: tags.string, color: "var(--c-string)" },
  { tag: tags.number, color: "var(--c-number)" },
  { tag: [tags.bool, tags.null], color: "var(--c-keyword)" },
  { tag: tags.propertyName, color: "var(--c-property)" },
  { tag: tags.invalid, color: "var(--c-error)" },
]);

const theme = EditorView.theme({
  "&": { backgroundColor: "var(--editor-bg)", color: "var(--fg)", fontSize: "13px" },
  ".cm-content": { caretColor: "var(--fg)", fontFamily: "var(--mono)" },
  ".cm-gutters": { backgroundColor: "var(--gutter-bg)", color: "var(--muted)", border: "none" },
  ".cm-activeLine": { backgroundColor: "var(--active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--active-line)" },
  "&.cm-focused .cm-cursor": { borderLeftColor: "var(--fg)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection": {
    backgroundColor: "var(--selection) !important",
  },
  ".cm-tooltip": { backgroundColor: "var(--panel)", color: "var(--fg)", border: "1px solid var(--border)" },
});

// The values an opened explanation talks about, marked in the events editor; any edit clears
// them (their places are the explanation's, of the text as it was).
const setMarks = StateEffect.define();
const marks = StateField.define({
  create: () => Decoration.none,
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setMarks)) return e.value;
    return tr.docChanged ? Decoration.none : value;
  },
  provide: (field) => EditorView.decorations.from(field),
});

// UTF-16 offsets (in `text`) of byte offsets of its UTF-8 form.
function utf16Of(text) {
  const map = new Map();
  let byte = 0;
  let unit = 0;
  for (const ch of text) {
    map.set(byte, unit);
    const cp = ch.codePointAt(0);
    byte += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    unit += ch.length;
  }
  map.set(byte, unit);
  return (b) => map.get(b) ?? unit;
}

// The event values of an explanation's group and its `$or` alternatives: each with its byte
// span in the event and whether a condition held for it.
function explainedValues(group, out = []) {
  for (const field of group.fields) {
    field.values.forEach((v, i) => {
      const held = field.conditions.some((c) => c.held_for.includes(i));
      out.push({ span: v.span, held, path: field.path });
    });
  }
  for (const or of group.ors) for (const alternative of or.alternatives) explainedValues(alternative, out);
  return out;
}

// Marks, in the events editor, the values that explanations `whys` (of the event at UTF-16
// offset `base`, text `event`) name: held by a condition of some rule, or by none.
function markValues(whys, event, base) {
  const at = utf16Of(event);
  const byPlace = new Map();
  for (const why of whys) {
    for (const p of why.patterns) {
      for (const v of explainedValues(p.group)) {
        const key = `${v.span[0]}:${v.span[1]}`;
        const seen = byPlace.get(key);
        byPlace.set(key, { ...v, held: v.held || (seen?.held ?? false) });
      }
    }
  }
  const ranges = [...byPlace.values()]
    .filter((v) => v.span[1] > v.span[0])
    .map((v) =>
      Decoration.mark({
        class: v.held ? "cm-why-held" : "cm-why-failed",
        attributes: { title: `${v.path}: ${v.held ? "a condition holds" : "no condition holds"}` },
      }).range(base + at(v.span[0]), base + at(v.span[1])),
    );
  ui.events.view.dispatch({ effects: setMarks.of(Decoration.set(ranges, true)) });
}

// A JSON editor in `parent`, calling `changed` after each edit.
function editor(parent, text, label, changed) {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        history(),
        highlightActiveLine(),
        bracketMatching(),
        json(),
        syntaxHighlighting(highlight),
        keymap.of([...defaultKeymap, ...historyKeymap]),
        EditorView.lineWrapping,
        theme,
        marks,
        EditorView.contentAttributes.of({ "aria-label": label }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) changed();
        }),
      ],
    }),
  });
  return {
    view,
    get text() {
      return view.state.doc.toString();
    },
    set text(value) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: value } });
    },
    // Underlines each `{from16, to16, message}` (UTF-16 offsets, as JS strings count).
    mark(problems) {
      const length = view.state.doc.length;
      const diagnostics = problems.map((p) => {
        const from = Math.max(0, Math.min(p.from16 ?? 0, length));
        let to = Math.max(from, Math.min(p.to16 ?? from, length));
        if (to === from && to < length) to = from + 1;
        return { from, to, severity: "error", message: p.message };
      });
      view.dispatch(setDiagnostics(view.state, diagnostics));
    },
  };
}

function where(error) {
  return error.line ? `line ${error.line}, column ${error.column}: ` : "";
}

function problem(error) {
  return { from16: error.offset16, to16: error.endOffset16, message: error.reason };
}

// ------------------------------------------------------------------ state

const state = {
  mode: "eventbridge",
  rules: [],
  events: "",
  numbersAsStrings: false,
  source: "sqs",
  criteria: "",
  records: "",
  lambdaStrict: true,
};

const ui = { rules: [], events: null, criteria: null, records: null };
let matcher = null;
let criteria = null;

function fromExample(ex) {
  if (ex.mode === "eventbridge") {
    state.mode = "eventbridge";
    state.rules = ex.rules.map((r) => ({ ...r }));
    state.events = ex.events;
  } else {
    state.mode = "lambda";
    state.source = ex.source;
    state.criteria = ex.criteria;
    state.records = ex.records;
  }
}

function defaults() {
  fromExample(EXAMPLES.find((e) => e.mode === "lambda"));
  fromExample(EXAMPLES[0]);
}

function restore(saved) {
  const str = (v, d) => (typeof v === "string" ? v : d);
  state.mode = saved.mode === "lambda" ? "lambda" : "eventbridge";
  if (Array.isArray(saved.rules)) {
    state.rules = saved.rules
      .filter((r) => r && typeof r === "object")
      .map((r) => ({ name: str(r.name, "rule"), text: str(r.text, "{}") }));
  }
  state.events = str(saved.events, state.events);
  state.numbersAsStrings = saved.numbersAsStrings === true;
  state.source = ["sqs", "kinesis", "dynamodb", "kafka", "mq"].includes(saved.source) ? saved.source : "sqs";
  state.criteria = str(saved.criteria, state.criteria);
  state.records = str(saved.records, state.records);
  state.lambdaStrict = saved.lambdaStrict !== false;
}

let saveTimer = 0;
// Browsers cap URLs at about 2 MB; a larger state is not put in the link.
const MAX_LINK = 1_500_000;
function scheduleSave() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(async () => {
    const hash = await encodeState(state);
    const status = $("#link-status");
    if (hash.length > MAX_LINK) {
      status.textContent = `This state is too large for a link (${(hash.length / 1e6).toFixed(1)} MB compressed): the address keeps the last smaller one.`;
      status.dataset.tooLarge = "true";
      return;
    }
    if (status.dataset.tooLarge) {
      status.textContent = "";
      delete status.dataset.tooLarge;
    }
    if (hash !== location.hash) window.history.replaceState(null, "", hash);
    document.body.dataset.saved = hash;
  }, 200);
}

// ------------------------------------------------------------------ rules and events

function ruleCard(rule, index) {
  const error = el("p", { class: "error", "data-testid": "rule-error", role: "status" });
  const name = el("input", {
    type: "text",
    value: rule.name,
    "aria-label": `Name of rule ${index + 1}`,
    "data-testid": "rule-name",
    spellcheck: "false",
    oninput: () => {
      rule.name = name.value;
      update();
    },
  });
  const remove = el(
    "button",
    {
      type: "button",
      class: "quiet",
      "aria-label": `Remove rule ${index + 1}`,
      onclick: () => {
        state.rules.splice(state.rules.indexOf(rule), 1);
        buildRules();
        update();
      },
    },
    "Remove",
  );
  const host = el("div", { class: "editor", "data-testid": "rule-editor" });
  const card = el("section", { class: "rule", "data-testid": "rule" }, el("div", { class: "rule-head" }, name, remove), host, error);
  const ed = editor(host, rule.text, `Pattern of rule ${index + 1}`, () => {
    rule.text = ed.text;
    update();
  });
  return { card, ed, error, rule };
}

function buildRules() {
  const list = $("#rules");
  list.replaceChildren();
  ui.rules = state.rules.map((rule, i) => {
    const r = ruleCard(rule, i);
    list.append(r.card);
    return r;
  });
}

function buildMatcher() {
  const options = { numbersAsStrings: state.numbersAsStrings };
  const m = new weir.Matcher(options);
  const seen = new Set();
  for (const r of ui.rules) {
    const name = r.rule.name.trim() || "(unnamed)";
    r.error.textContent = "";
    try {
      if (seen.has(name)) throw Object.assign(new Error(`Two rules are named "${name}": names must differ`), {});
      m.addRule(name, r.rule.text);
      seen.add(name);
      r.ed.mark([]);
      r.card.classList.remove("invalid");
    } catch (e) {
      r.error.textContent = where(e) + e.message;
      r.ed.mark(e.offset16 === undefined || e.offset16 === null ? [] : [problem(e)]);
      r.card.classList.add("invalid");
    }
  }
  return m;
}

function verdictRow(item, cut, index, text) {
  const at = cut && !cut.error ? `line ${cut.line}` : item.error ? `line ${item.error.line}` : "";
  // Selects the event (or the place of its error) in the events editor.
  const [from, to] = cut && !cut.error ? [cut.offset16, cut.end16] : [item.error?.offset16, item.error?.endOffset16];
  const head = el(
    "button",
    {
      type: "button",
      class: "where",
      title: "Show in the events",
      onclick: () => {
        if (from === null || from === undefined) return;
        const view = ui.events.view;
        const length = view.state.doc.length;
        view.dispatch({
          selection: { anchor: Math.min(from, length), head: Math.min(to ?? from, length) },
          scrollIntoView: true,
        });
        view.focus();
      },
    },
    `#${index + 1} `,
    at,
  );
  let badge;
  if (!Array.isArray(item)) {
    badge = el("span", { class: "badge error", "data-testid": "verdict" }, `error: ${where(item.error)}${item.error.reason}`);
  } else if (item.length) {
    badge = el("span", { class: "badge match", "data-testid": "verdict" }, `matches: ${item.join(", ")}`);
  } else {
    badge = el("span", { class: "badge nomatch", "data-testid": "verdict" }, "no match");
  }
  const row = el("li", { class: "verdict", "data-index": index }, head, badge);
  if (Array.isArray(item) && cut && !cut.error) {
    const body = el("div", { class: "why", "data-testid": "why" });
    const details = el("details", {}, el("summary", {}, item.length ? "Why" : "Why not"), body);
    let whys = null;
    details.addEventListener("toggle", () => {
      if (!details.open) {
        ui.events.view.dispatch({ effects: setMarks.of(Decoration.none) });
        return;
      }
      const event = text.slice(cut.offset16, cut.end16);
      if (!whys) {
        const names = matcher.ruleNames();
        whys = names.map((name) => matcher.explain(name, event));
        if (!names.length) body.append(el("p", {}, "No valid rule to explain."));
        names.forEach((name, i) => {
          const why = whys[i];
          body.append(
            el("h4", { class: why.matched ? "match" : "nomatch" }, `${name}: ${why.matched ? "matches" : "no match"}`),
            el("pre", {}, why.text),
          );
        });
      }
      if (ui.events.text === text) markValues(whys, event, cut.offset16);
    });
    row.append(details);
  }
  return row;
}

function updateEventBridge() {
  matcher = buildMatcher();
  const text = ui.events.text;
  const results = matcher.matchMany(text);
  const cuts = weir.splitEvents(text);
  let matched = 0;
  let errors = 0;
  const problems = [];
  for (const item of results) {
    if (!Array.isArray(item)) {
      errors++;
      problems.push(problem(item.error));
    } else if (item.length) matched++;
  }
  ui.events.mark(problems.slice(0, 200));
  const list = $("#verdicts");
  list.replaceChildren(...results.slice(0, SHOWN).map((item, i) => verdictRow(item, cuts[i], i, text)));
  const total = results.length;
  $("#summary").textContent =
    `${total} event${total === 1 ? "" : "s"}: ${matched} matched, ${total - matched - errors} not matched` +
    (errors ? `, ${errors} not readable` : "") +
    (total > SHOWN ? ` (the first ${SHOWN} are listed)` : "") +
    ` · ${matcher.ruleCount} valid rule${matcher.ruleCount === 1 ? "" : "s"}`;
}

// ------------------------------------------------------------------ Lambda

const VERDICT_TEXT = { delivered: "delivered", filtered_out: "filtered out", dropped: "dropped" };

function updateLambda() {
  const error = $("#criteria-error");
  error.textContent = "";
  ui.criteria.mark([]);
  let records = [];
  try {
    criteria = new weir.FilterCriteria(ui.criteria.text, {
      lambdaStrict: state.lambdaStrict,
      numbersAsStrings: state.numbersAsStrings,
    });
    records = criteria.evaluate(ui.records.text, state.source);
  } catch (e) {
    criteria = null;
    const filter = e.filterIndex === null || e.filterIndex === undefined ? "" : `filter ${e.filterIndex}: `;
    error.textContent = `${filter}${where(e)}${e.message}`;
    if (e.offset16 !== null && e.offset16 !== undefined) ui.criteria.mark([problem(e)]);
    $("#records-out").replaceChildren();
    $("#records-summary").textContent = "The criteria are refused: no record is evaluated.";
    ui.records.mark([]);
    return;
  }
  const counts = { delivered: 0, filtered_out: 0, dropped: 0 };
  const problems = [];
  for (const r of records) {
    counts[r.verdict] = (counts[r.verdict] ?? 0) + 1;
    if (r.error) problems.push(problem(r.error));
  }
  ui.records.mark(problems.slice(0, 200));
  $("#records-out").replaceChildren(
    ...records.slice(0, SHOWN).map((r, i) =>
      el(
        "li",
        { class: `verdict ${r.verdict}` },
        el("span", { class: "where" }, `#${i + 1} line ${r.line}`),
        el(
          "span",
          { class: `badge ${r.verdict === "delivered" ? "match" : r.verdict === "dropped" ? "error" : "nomatch"}`, "data-testid": "record-verdict" },
          VERDICT_TEXT[r.verdict] ?? r.verdict,
        ),
        r.reason ? el("span", { class: "reason" }, r.reason) : null,
      ),
    ),
  );
  const total = records.length;
  $("#records-summary").textContent =
    `${total} record${total === 1 ? "" : "s"}: ${counts.delivered} delivered, ${counts.filtered_out} filtered out, ${counts.dropped} dropped` +
    (total > SHOWN ? ` (the first ${SHOWN} are listed)` : "");
}

// ------------------------------------------------------------------ page

// Large inputs (pasted logs) are matched once typing pauses, small ones on the next frame.
const LARGE = 256 * 1024;
let pending = 0;
function update() {
  clearTimeout(pending);
  const size = state.mode === "eventbridge" ? state.events.length : state.records.length;
  pending = setTimeout(() => requestAnimationFrame(run), size > LARGE ? 250 : 0);
}

function run() {
  const started = performance.now();
  try {
    if (state.mode === "eventbridge") updateEventBridge();
    else updateLambda();
  } finally {
    document.body.dataset.took = String(performance.now() - started);
    document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
  }
  scheduleSave();
}

function showMode() {
  for (const b of document.querySelectorAll("[data-mode]")) {
    b.setAttribute("aria-pressed", String(b.dataset.mode === state.mode));
  }
  $("#eventbridge").hidden = state.mode !== "eventbridge";
  $("#lambda").hidden = state.mode !== "lambda";
}

function load() {
  buildRules();
  ui.events.text = state.events;
  ui.criteria.text = state.criteria;
  ui.records.text = state.records;
  $("#source").value = state.source;
  $("#numbers-as-strings").checked = state.numbersAsStrings;
  $("#lambda-numbers-as-strings").checked = state.numbersAsStrings;
  $("#lambda-strict").checked = state.lambdaStrict;
  showMode();
  update();
}

async function main() {
  await init({ module_or_path: new URL("weir.wasm", document.baseURI) });
  // For the console, the tests and the benchmark: the module, and the text of an editor.
  window.weir = weir;
  window.weirPage = {
    state,
    view: (dom) => EditorView.findFromDOM(dom),
    textOf: (dom) => EditorView.findFromDOM(dom)?.state.doc.toString(),
  };
  $("#version").textContent = `weir ${weir.version()}`;

  defaults();
  try {
    const saved = await decodeState(location.hash);
    if (saved) restore(saved);
  } catch (e) {
    $("#link-status").textContent = `The link's state could not be read (${e.message}); showing an example.`;
  }

  ui.events = editor($("#events-editor"), state.events, "Events: one JSON event, a JSON array or JSON lines", () => {
    state.events = ui.events.text;
    update();
  });
  ui.criteria = editor($("#criteria-editor"), state.criteria, "FilterCriteria", () => {
    state.criteria = ui.criteria.text;
    update();
  });
  ui.records = editor($("#records-editor"), state.records, "Records: one JSON record, a JSON array or JSON lines", () => {
    state.records = ui.records.text;
    update();
  });

  const select = $("#examples");
  for (const [mode, label] of [["eventbridge", "EventBridge"], ["lambda", "Lambda"]]) {
    const group = el("optgroup", { label });
    for (const ex of EXAMPLES.filter((e) => e.mode === mode)) group.append(el("option", { value: ex.id }, ex.title));
    select.append(group);
  }
  select.addEventListener("change", () => {
    const ex = example(select.value);
    if (!ex) return;
    fromExample(ex);
    select.value = "";
    load();
  });
  for (const b of document.querySelectorAll("[data-mode]")) {
    b.addEventListener("click", () => {
      state.mode = b.dataset.mode;
      showMode();
      update();
    });
  }
  $("#add-rule").addEventListener("click", () => {
    let n = state.rules.length + 1;
    while (state.rules.some((r) => r.name === `rule-${n}`)) n++;
    state.rules.push({ name: `rule-${n}`, text: '{\n  "source": ["aws.s3"]\n}' });
    buildRules();
    update();
    ui.rules.at(-1).ed.view.focus();
  });
  $("#source").addEventListener("change", (e) => {
    state.source = e.target.value;
    update();
  });
  for (const id of ["#numbers-as-strings", "#lambda-numbers-as-strings"]) {
    $(id).addEventListener("change", (e) => {
      state.numbersAsStrings = e.target.checked;
      $("#numbers-as-strings").checked = $("#lambda-numbers-as-strings").checked = e.target.checked;
      update();
    });
  }
  $("#lambda-strict").addEventListener("change", (e) => {
    state.lambdaStrict = e.target.checked;
    update();
  });
  $("#copy-link").addEventListener("click", async () => {
    clearTimeout(saveTimer);
    const hash = await encodeState(state);
    window.history.replaceState(null, "", hash);
    const link = location.href;
    $("#link").value = link;
    $("#link").hidden = false;
    try {
      await navigator.clipboard.writeText(link);
      $("#link-status").textContent = "Link copied: it reproduces this page.";
    } catch {
      $("#link-status").textContent = "Copy the link below: it reproduces this page.";
      $("#link").select();
    }
  });
  window.addEventListener("hashchange", async () => {
    if (location.hash === document.body.dataset.saved) return;
    try {
      const saved = await decodeState(location.hash);
      if (saved) {
        restore(saved);
        load();
      }
    } catch (e) {
      $("#link-status").textContent = `The link's state could not be read (${e.message}).`;
    }
  });

  load();
  document.body.dataset.ready = "true";

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js").catch((e) => {
      $("#offline").textContent = `Offline use is not available: ${e.message}`;
    });
  }
}

main().catch((e) => {
  document.body.dataset.ready = "failed";
  $("#fatal").hidden = false;
  $("#fatal").textContent = `The page could not start: ${e.message}`;
});
