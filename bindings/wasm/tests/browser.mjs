// The page in real headless Chromium: verdicts as you type, the caret error of a broken
// pattern, an explanation, the Lambda mode, a copied link restoring the state, a second load
// with the server stopped (the service worker), phone width, dark mode, keyboard use.
// Screenshots go to target/browser-tests/. Usage: node bindings/wasm/tests/browser.mjs
// (after scripts/build-web). WEIR_CHROMIUM overrides /usr/bin/chromium.
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { serve, launch, dist, root } from "./lib.mjs";

const shots = path.join(root, "target/browser-tests");
fs.mkdirSync(shots, { recursive: true });
assert.ok(fs.existsSync(path.join(dist, "index.html")), `${dist} is not built: run bindings/wasm/scripts/build-web`);

let server = await serve(dist);
const browser = await launch();
const failures = [];
const pageErrors = [];

async function open(url = server.url) {
  const page = await browser.context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(`${page.url()}: console: ${m.text()}`);
  });
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 30000 });
  assert.equal(await page.evaluate(() => document.body.dataset.ready), "true", await page.locator("#fatal").textContent());
  return page;
}

// Waits until the page has run an update after `before` (its count of updates), and has none
// pending (updates run on the next animation frame after an edit).
async function settled(page, before) {
  await page.waitForFunction((n) => Number(document.body.dataset.updates ?? 0) > n, before);
  await frames(page);
}

// Two animation frames: the editors measure themselves after a resize.
const frames = (page) => page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
const updates = (page) => page.evaluate(() => Number(document.body.dataset.updates ?? 0));

// Replaces the text of the CodeMirror editor `locator` by typing `text` (keyboard input).
async function typeInto(page, locator, text, { type = true } = {}) {
  const before = await updates(page);
  await locator.locator(".cm-content").click();
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.press("Backspace");
  if (type) await page.keyboard.type(text);
  else await page.keyboard.insertText(text);
  await page.waitForFunction(
    ([el, want]) => window.weirPage.textOf(el.closest(".cm-editor")) === want,
    [await locator.locator(".cm-content").elementHandle(), text],
  );
  await settled(page, before);
}

const verdicts = (page) => page.locator("[data-testid=verdict]").allTextContents();

async function scenario(name, run) {
  try {
    await run();
    console.log(`ok: ${name}`);
  } catch (e) {
    failures.push(name);
    console.log(`FAILED: ${name}\n${e.stack}`);
  }
}

let sharedLink = null;

await scenario("the page loads and shows the first example's verdicts", async () => {
  const page = await open();
  assert.equal(await page.locator("[data-testid=rule]").count(), 2);
  assert.deepEqual(await verdicts(page), ["matches: png-uploads, large-objects", "no match"]);
  assert.match(await page.locator("#summary").textContent(), /^2 events: 1 matched, 1 not matched/);
  await page.screenshot({ path: path.join(shots, "loaded.png"), fullPage: true });
  await page.close();
});

await scenario("typed rules and events give verdicts as you type", async () => {
  const page = await open();
  // One rule, typed.
  await page.getByRole("button", { name: "Remove rule 2" }).click();
  const rule = page.locator("[data-testid=rule]").first();
  await rule.locator("[data-testid=rule-name]").fill("big");
  await typeInto(page, rule.locator("[data-testid=rule-editor]"), '{"detail": {"size": [{"numeric": [">", 10]}]}}');
  const events = page.locator("[data-testid=events-editor]");
  await typeInto(
    page,
    events,
    '{"detail": {"size": 42}}\n{"detail": {"size": 3}}\n{"detail": {"size": "42"}}\n{"detail": {"size": 10.5}}',
  );
  assert.deepEqual(await verdicts(page), ["matches: big", "no match", "no match", "matches: big"]);
  // A JSON array of events, pasted.
  await typeInto(page, events, '[{"detail": {"size": 11}}, {"detail": {}}]', { type: false });
  assert.deepEqual(await verdicts(page), ["matches: big", "no match"]);
  // Invalid JSON in an event: its verdict is the error, underlined where it is.
  await typeInto(page, events, '{"detail": {"size": 11}}\n{"detail": {"size": tru}}', { type: false });
  const v = await verdicts(page);
  assert.equal(v[0], "matches: big");
  assert.match(v[1], /^error: line 2, column 21: expected a JSON value$/);
  assert.equal(await events.locator(".cm-lintRange-error").first().textContent(), "t");
  // A verdict's place selects its event in the editor.
  await page.locator("#verdicts li").first().locator("button.where").click();
  const selected = await page.evaluate(() => {
    const view = window.weirPage.view(document.querySelector("[data-testid=events-editor] .cm-editor"));
    const { from, to } = view.state.selection.main;
    return view.state.sliceDoc(from, to);
  });
  assert.equal(selected, '{"detail": {"size": 11}}');
  await page.close();
});

await scenario("a broken pattern is underlined at AWS's place with AWS's reason", async () => {
  const page = await open();
  const rule = page.locator("[data-testid=rule]").first();
  await typeInto(page, rule.locator("[data-testid=rule-editor]"), '{"detail": {"state": [{"numeric": [">", 0, ">", 5]}]}}');
  const error = rule.locator("[data-testid=rule-error]");
  assert.equal(await error.textContent(), "line 1, column 44: Bad numeric range operator: >");
  const mark = rule.locator(".cm-lintRange-error");
  assert.equal(await mark.count(), 1);
  assert.equal(await mark.textContent(), '">"');
  // The other rule still matches; the broken one is left out.
  assert.match(await page.locator("#summary").textContent(), /1 valid rule$/);
  // Hovering the underline shows the reason.
  await mark.hover();
  await page.locator(".cm-tooltip-lint").waitFor();
  assert.match(await page.locator(".cm-tooltip-lint").textContent(), /Bad numeric range operator: >/);
  await page.screenshot({ path: path.join(shots, "pattern-error.png"), fullPage: true });
  await page.close();
});

await scenario("an event's explanation says why not", async () => {
  const page = await open();
  const second = page.locator("#verdicts li").nth(1);
  await second.locator("summary").click();
  const why = second.locator("[data-testid=why]");
  await why.locator("pre").first().waitFor();
  const text = await why.textContent();
  assert.match(text, /png-uploads: no match/);
  assert.match(text, /detail\.object\.key: "notes\/readme\.txt" at \d+\.\.\d+, fails/);
  assert.match(text, /large-objects: no match/);
  assert.match(text, /detail\.object\.size: 812 at \d+\.\.\d+, fails/);
  // The values it names are marked in the events editor: failed and held.
  const events = page.locator("[data-testid=events-editor]");
  const failed = await events.locator(".cm-why-failed").allTextContents();
  assert.deepEqual(failed.sort(), ['"notes/readme.txt"', "812"]);
  const held = await events.locator(".cm-why-held").allTextContents();
  assert.deepEqual(held.sort(), ['"Object Created"', '"aws.s3"', '"photos-upload"']);
  // Closing the explanation clears them.
  await second.locator("summary").click();
  await page.waitForFunction(() => !document.querySelector(".cm-why-failed, .cm-why-held"), null, { timeout: 5000 });
  await second.locator("summary").click();
  await page.locator(".cm-why-failed").first().waitFor();
  await page.screenshot({ path: path.join(shots, "explanation.png"), fullPage: true });
  await page.close();
});

await scenario("the Lambda mode: delivered, filtered out, dropped, and refusals", async () => {
  const page = await open();
  await page.getByRole("button", { name: "Lambda filter" }).click();
  await page.locator("[data-testid=examples]").selectOption("lambda-sqs");
  const records = () => page.locator("[data-testid=record-verdict]").allTextContents();
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=record-verdict]").length === 3);
  assert.deepEqual(await records(), ["delivered", "filtered out", "dropped"]);
  assert.match(await page.locator("#records-out li").nth(2).textContent(), /the body is not JSON but the filter has a JSON pattern on `body`/);
  assert.equal(await page.locator("[data-testid=records-summary]").textContent(), "3 records: 1 delivered, 1 filtered out, 1 dropped");

  for (const [id, want] of [
    ["lambda-dynamodb", ["delivered", "filtered out", "filtered out"]],
    ["lambda-kinesis", ["delivered", "filtered out", "dropped"]],
    // MQ: a text message under a JSON pattern on `data` leaves only the metadata part
    // (priority), which it meets.
    ["lambda-mq", ["delivered", "filtered out", "delivered"]],
    // Kafka: the same for a text value; the metadata part is empty here.
    ["lambda-kafka", ["delivered", "filtered out", "delivered"]],
  ]) {
    const before = await updates(page);
    await page.locator("[data-testid=examples]").selectOption(id);
    await settled(page, before);
    assert.deepEqual(await records(), want, id);
  }

  // Lambda-strict (on the Kafka records): wildcard is refused, and accepted with the box unticked.
  const criteria = page.locator("[data-testid=criteria-editor]");
  await typeInto(page, criteria, '{"Filters": [{"Pattern": "{\\"topic\\": [{\\"wildcard\\": \\"ord*\\"}]}"}]}', { type: false });
  const error = page.locator("[data-testid=criteria-error]");
  assert.match(await error.textContent(), /^filter 0: line 1, column \d+: .*wildcard/i);
  assert.equal(await criteria.locator(".cm-lintRange-error").count(), 1);
  let before = await updates(page);
  await page.getByLabel(/Lambda-strict/).uncheck();
  await settled(page, before);
  assert.equal(await error.textContent(), "");
  assert.deepEqual(await records(), ["delivered", "delivered", "delivered"]);

  // Kinesis refuses a plain-string filter on `data` when the mapping is created.
  before = await updates(page);
  await page.locator("[data-testid=source]").selectOption("kinesis");
  await settled(page, before);
  await typeInto(page, criteria, '{"Filters": [{"Pattern": "{\\"data\\": [\\"x\\"]}"}]}', { type: false });
  assert.match(await error.textContent(), /^filter 0: .*Invalid filter pattern definition\./);
  assert.equal(await criteria.locator(".cm-lintRange-error").textContent(), '[\\"x\\"]');
  assert.equal(await page.locator("[data-testid=records-summary]").textContent(), "The criteria are refused: no record is evaluated.");
  await page.screenshot({ path: path.join(shots, "lambda.png"), fullPage: true });
  await page.close();
});

await scenario("a copied link restores the whole state", async () => {
  const page = await open();
  await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
  const rule = page.locator("[data-testid=rule]").first();
  await rule.locator("[data-testid=rule-name]").fill("only-txt");
  await typeInto(page, rule.locator("[data-testid=rule-editor]"), '{"detail": {"object": {"key": [{"suffix": ".txt"}]}}}', { type: false });
  await page.getByRole("button", { name: "Add a rule" }).click();
  await page.locator("#numbers-as-strings").check();
  await page.getByRole("button", { name: "Copy link" }).click();
  await page.locator("#link-status").filter({ hasText: "Link" }).waitFor();
  const link = await page.locator("#link").inputValue();
  assert.match(link, /#v1=[A-Za-z0-9_-]+$/);
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, link);
  const want = await verdicts(page);
  // The added rule (source aws.s3) matches both events.
  assert.deepEqual(want, ["matches: large-objects, rule-3", "matches: only-txt, rule-3"]);
  await page.close();

  const again = await open(link);
  assert.deepEqual(await verdicts(again), want);
  assert.equal(await again.locator("[data-testid=rule-name]").first().inputValue(), "only-txt");
  assert.equal(await again.locator("[data-testid=rule]").count(), 3);
  assert.equal(await again.locator("#numbers-as-strings").isChecked(), true);
  const patternText = await again.locator("[data-testid=rule-editor] .cm-content").first().textContent();
  assert.equal(patternText, '{"detail": {"object": {"key": [{"suffix": ".txt"}]}}}');
  await again.close();

  // A Lambda state too.
  const lambda = await open();
  await lambda.locator("[data-testid=examples]").selectOption("lambda-kinesis");
  await lambda.waitForFunction(() => document.querySelectorAll("[data-testid=record-verdict]").length === 3);
  await lambda.waitForFunction(() => location.hash.startsWith("#v1="));
  await lambda.waitForFunction(() => document.body.dataset.saved === location.hash);
  sharedLink = lambda.url();
  await lambda.close();
  const restored = await open(sharedLink);
  assert.equal(await restored.locator("#lambda").isVisible(), true);
  assert.equal(await restored.locator("[data-testid=source]").inputValue(), "kinesis");
  assert.deepEqual(await restored.locator("[data-testid=record-verdict]").allTextContents(), ["delivered", "filtered out", "dropped"]);
  await restored.close();
});

await scenario("phone width, dark mode and the keyboard", async () => {
  const page = await open();
  await page.setViewportSize({ width: 390, height: 844 });
  await frames(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
  await page.screenshot({ path: path.join(shots, "phone.png"), fullPage: true });

  await page.emulateMedia({ colorScheme: "dark" });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark mode background is ${bg}`);
  const editorBg = await page.evaluate(() => getComputedStyle(document.querySelector(".cm-editor")).backgroundColor);
  assert.ok(editorBg.match(/\d+/g).slice(0, 3).map(Number).reduce((a, x) => a + x) < 150, `editor background ${editorBg}`);
  await page.setViewportSize({ width: 1280, height: 900 });
  await frames(page);
  await page.screenshot({ path: path.join(shots, "dark.png"), fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });

  // Tab reaches the mode buttons; Enter switches the mode; Tab leaves an editor (no trap).
  await page.locator("body").click({ position: { x: 1, y: 1 } });
  let found = false;
  for (let i = 0; i < 5 && !found; i++) {
    await page.keyboard.press("Tab");
    found = await page.evaluate(() => document.activeElement?.dataset.mode === "lambda");
  }
  assert.ok(found, "Tab does not reach the Lambda button");
  await page.keyboard.press("Enter");
  assert.equal(await page.locator("#lambda").isVisible(), true);
  await page.locator("[data-testid=criteria-editor] .cm-content").focus();
  await page.keyboard.press("Tab");
  const left = await page.evaluate(() => !document.querySelector("[data-testid=criteria-editor]").contains(document.activeElement));
  assert.ok(left, "Tab stays in the editor");
  await page.close();
});

await scenario("a large paste is matched once typing pauses and kept out of the link", async () => {
  const page = await open();
  const before = await updates(page);
  const hashBefore = await page.evaluate(async () => {
    await new Promise((done) => setTimeout(done, 400)); // the first state saved
    return location.hash;
  });
  // 10,000 events with random text: about 2.8 MB compressed, more than a link may hold.
  const count = await page.evaluate(() => {
    const random = () => Array.from(crypto.getRandomValues(new Uint8Array(300)), (b) => (b % 36).toString(36)).join("");
    const lines = Array.from({ length: 10000 }, (_, i) => JSON.stringify({ source: "aws.s3", detail: { i, blob: random() } }));
    const view = window.weirPage.view(document.querySelector("[data-testid=events-editor] .cm-editor"));
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: lines.join("\n") } });
    return lines.length;
  });
  await settled(page, before);
  assert.match(await page.locator("#summary").textContent(), new RegExp(`^${count} events: 0 matched, ${count} not matched`));
  await page.locator("#link-status").filter({ hasText: "too large for a link" }).waitFor();
  assert.equal(await page.evaluate(() => location.hash), hashBefore);
  await page.close();
});

await scenario("a second load with the server stopped still works (service worker)", async () => {
  const page = await open();
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((done) => navigator.serviceWorker.addEventListener("controllerchange", done, { once: true }));
    }
  });
  const url = sharedLink ?? server.url;
  await server.close();
  // The server is gone: nothing answers on its port.
  await assert.rejects(fetch(server.url));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 30000 });
  assert.equal(await page.evaluate(() => document.body.dataset.ready), "true");
  if (sharedLink) {
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=record-verdict]").length === 3);
    assert.deepEqual(await page.locator("[data-testid=record-verdict]").allTextContents(), ["delivered", "filtered out", "dropped"]);
  } else {
    assert.deepEqual(await verdicts(page), ["matches: png-uploads, large-objects", "no match"]);
  }
  await page.screenshot({ path: path.join(shots, "offline.png"), fullPage: true });
  await page.close();
  server = await serve(dist, server.port);
});

await browser.close();
await server.close();

// Errors on the page count as failures, except the refused requests of the offline load.
const unexpected = pageErrors.filter((e) => !/ERR_CONNECTION_REFUSED/.test(e));
if (unexpected.length) {
  failures.push("page errors");
  console.log(`FAILED: errors on the page:\n${unexpected.join("\n")}`);
}
console.log(`browser: screenshots in ${shots}`);
if (failures.length) {
  console.log(`browser: ${failures.length} scenario(s) failed: ${failures.join("; ")}`);
  process.exit(1);
}
console.log("browser: every scenario passed");
