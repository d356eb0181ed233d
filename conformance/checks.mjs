// checks.mjs is the tiny harness the conformance scripts share: check()
// runs one named check and prints "ok" or "FAIL" with the reason; finish()
// prints "N passed, N failed" and exits 1 if any failed.

let passed = 0;
let failed = 0;

export async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   - ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL - ${name}: ${err?.message ?? err}`);
  }
}

export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
