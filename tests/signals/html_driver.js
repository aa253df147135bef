// Runs the <script> of an example's HTML page in Node, against a real server.
//
//   node --experimental-websocket html_driver.js PAGE.html STEPS.json
//
// The page sees a minimal `document` (elements by id, with value/disabled) and
// Node's own WebSocket.  STEPS is a list of actions, run in order:
//   ["set", id, value]        set an element's value
//   ["call", functionName]    call a function of the page (a button press)
//   ["wait", id, text]        wait until the element's value contains text
//   ["print", id]             print the element's value to stdout
// Exits 1 (printing every element) if a wait outlasts the guard.
"use strict";
const fs = require("fs");
const vm = require("vm");

const [page, stepsFile] = process.argv.slice(2);
const html = fs.readFileSync(page, "utf8");
const script = html.match(/<script[^>]*>([\s\S]*?)<\/script>/)[1];
// Initial values from the markup: <input ... id="x" value="...">
const elements = {};
for (const m of html.matchAll(/<(input|textarea|button)\b([^>]*)>/g)) {
  const id = /id="([^"]*)"/.exec(m[2]);
  const value = /value="([^"]*)"/.exec(m[2]);
  if (id) {
    elements[id[1]] = { id: id[1], value: value ? value[1] : "", disabled: /\bdisabled\b/.test(m[2]),
                        scrollTop: 0, scrollHeight: 0 };
  }
}
const document = {
  getElementById(id) {
    if (!(id in elements)) throw new Error("no element #" + id);
    return elements[id];
  },
};
const context = { document, WebSocket, console, setTimeout, clearTimeout };
context.window = context;
vm.createContext(context);
vm.runInContext(script, context);

const GUARD_MS = 15000;
const steps = JSON.parse(fs.readFileSync(stepsFile, "utf8"));

function fail(message) {
  console.error(message);
  console.error(JSON.stringify(elements, null, 1));
  process.exit(1);
}

async function run() {
  for (const step of steps) {
    const [action, a, b] = step;
    if (action === "set") {
      document.getElementById(a).value = b;
    } else if (action === "call") {
      if (typeof context[a] !== "function") fail("the page has no function " + a);
      context[a]();
    } else if (action === "wait") {
      const start = Date.now();
      while (!document.getElementById(a).value.includes(b)) {
        if (Date.now() - start > GUARD_MS) fail("waited in vain for " + JSON.stringify(b));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    } else if (action === "print") {
      process.stdout.write(document.getElementById(a).value);
    } else {
      fail("unknown step " + action);
    }
  }
  process.exit(0);
}
run();
