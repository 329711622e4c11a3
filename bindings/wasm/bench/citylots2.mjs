// Benchmark (not a test): matching the first 10,000 CityLots2 events in the page, in headless
// Chromium. Times Matcher.matchMany inside the page with every rule of
// benches/data/citylots2-rules.json (70 rules) and with one, and the page's own update
// (cutting, matching, listing) when the 10,000 events are put in its events editor.
// Data: WEIR_CITYLOTS2=/path/file.json[.gz] (JSON lines), else target/citylots2/citylots2.json
// or .json.gz (python3 benches/data/gen_citylots2.py writes it; cargo bench does when missing).
// Usage: node bindings/wasm/bench/citylots2.mjs [events]   (after scripts/build-web)
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import readline from "node:readline";
import { serve, launch, dist, root } from "../tests/lib.mjs";
import { encodeState } from "../web/src/state.js";

const count = Number(process.argv[2] ?? 10000);
const candidates = process.env.WEIR_CITYLOTS2
  ? [process.env.WEIR_CITYLOTS2]
  : ["citylots2.json", "citylots2.json.gz"].map((f) => path.join(root, "target/citylots2", f));
const data = candidates.find((f) => fs.existsSync(f));
if (!data) {
  console.error(`no CityLots2 data (${candidates.join(", ")}): set WEIR_CITYLOTS2 or run cargo bench --bench citylots2 once`);
  process.exit(2);
}
let input = fs.createReadStream(data);
if (data.endsWith(".gz")) input = input.pipe(zlib.createGunzip());
const lines = [];
for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
  if (line.trim()) lines.push(line);
  if (lines.length === count) break;
}
input.destroy();
const events = lines.join("\n") + "\n";
const banks = JSON.parse(fs.readFileSync(path.join(root, "benches/data/citylots2-rules.json"), "utf8")).banks;
const rules = Object.entries(banks).flatMap(([bank, b]) => b.rules.map((text, i) => [`${bank}#${i}`, text]));

const server = await serve(dist);
const browser = await launch();
const page = await browser.context.newPage();
// The page holding every rule, as a link would (its state in the fragment), with no events yet.
const hash = await encodeState({ mode: "eventbridge", rules: rules.map(([name, text]) => ({ name, text })), events: "" });
await page.goto(server.url + hash);
await page.waitForFunction(() => document.body.dataset.ready === "true");

const runs = 7;
const result = await page.evaluate(
  ({ events, rules, runs }) => {
    const m = new window.weir.Matcher();
    for (const [name, text] of rules) m.addRule(name, text);
    const times = [];
    let out;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      out = m.matchMany(events);
      times.push(performance.now() - t);
    }
    const single = new window.weir.Matcher();
    single.addRule(rules[0][0], rules[0][1]);
    const one = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      single.matchMany(events);
      one.push(performance.now() - t);
    }
    return {
      times,
      one,
      events: out.length,
      errors: out.filter((x) => !Array.isArray(x)).length,
      matches: out.reduce((n, x) => n + (Array.isArray(x) ? x.length : 0), 0),
    };
  },
  { events, rules, runs },
);

// The page's own update (cut, match, list the first 500) with the 70 rules, when the events
// are put in its editor.
const pageTimes = [];
for (let i = 0; i < 3; i++) {
  const before = await page.evaluate(() => Number(document.body.dataset.updates));
  await page.evaluate(({ text, i }) => {
    const view = window.weirPage.view(document.querySelector("[data-testid=events-editor] .cm-editor"));
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: i % 2 ? text + " " : text } });
  }, { text: events, i });
  await page.waitForFunction((n) => Number(document.body.dataset.updates) > n, before);
  pageTimes.push(await page.evaluate(() => Number(document.body.dataset.took)));
}
const summary = await page.locator("#summary").textContent();
await browser.close();
await server.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = Buffer.byteLength(events) / 1e6;
const ms = median(result.times);
console.log(`CityLots2: ${result.events} events (${mb.toFixed(1)} MB) from ${data}, ${result.errors} unreadable`);
console.log(
  `matchMany, ${rules.length} rules: median ${ms.toFixed(1)} ms of ${runs} runs ` +
    `(${((result.events / ms) * 1000).toFixed(0)} events/s, ${(mb / (ms / 1000)).toFixed(0)} MB/s), ${result.matches} matches`,
);
console.log(`matchMany, 1 rule: median ${median(result.one).toFixed(1)} ms`);
console.log(`page update with the events pasted: ${pageTimes.map((t) => t.toFixed(0)).join(", ")} ms (${summary})`);
