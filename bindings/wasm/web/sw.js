// Keeps the page usable offline: every file of the page is cached when the worker installs,
// and served from the cache first. A new build renames the cache (@BUILD@ is replaced by a hash
// of the build), so the next visit installs it and drops the old one.
const CACHE = "weir-@BUILD@";
const FILES = ["./", "index.html", "app.js", "style.css", "weir.wasm", "icon.svg", "manifest.webmanifest"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("weir-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== location.origin) return;
  event.respondWith(
    caches.match(request, { ignoreSearch: true }).then((hit) => hit || fetch(request)),
  );
});
