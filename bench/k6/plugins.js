// The k6 load of bench/plugins_bench.py: one URL, run once per target and round; the harness
// reads the summary JSON this script writes. Parameters (k6 -e NAME=VALUE):
//   TARGET_URL    what to load (loopback only)
//   APIKEY        sent as the apikey header when set (the key-auth routes)
//   RATE          requests/s of an open model (constant-arrival-rate): every target gets the same
//                 offered load, so latency and the proxy's CPU per request compare like for like;
//                 0 or unset: a closed model instead (constant-vus, VUS virtual users, as wrk -c)
//   VUS           closed model's users, and the open model's pre-allocated ones (default 50)
//   DURATION      e.g. "10s"
//   SUMMARY_PATH  where handleSummary writes the summary
import http from "k6/http";
import { Counter } from "k6/metrics";

const url = __ENV.TARGET_URL;
const params = __ENV.APIKEY ? { headers: { apikey: __ENV.APIKEY } } : {};
const rate = Number(__ENV.RATE || 0);
const vus = Number(__ENV.VUS || 50);
const duration = __ENV.DURATION || "10s";
// Split as wrk reports them: answers other than 2xx, and requests that got no answer at all.
const non2xx = new Counter("non_2xx");
const transportErrors = new Counter("transport_errors");

const scenario =
  rate > 0
    ? {
        executor: "constant-arrival-rate",
        rate: rate,
        timeUnit: "1s",
        duration: duration,
        preAllocatedVUs: vus,
        maxVUs: vus * 4, // a slow target gets more users before k6 drops iterations
        gracefulStop: "2s",
      }
    : { executor: "constant-vus", vus: vus, duration: duration, gracefulStop: "2s" };

export const options = {
  discardResponseBodies: true, // the harness checked the bodies once; k6 copying them costs CPU
  summaryTrendStats: ["avg", "med", "p(99)", "max"],
  scenarios: { load: scenario },
};

export default function () {
  const res = http.get(url, params);
  if (res.status === 0) {
    transportErrors.add(1);
  } else if (res.status < 200 || res.status > 299) {
    non2xx.add(1);
  }
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY_PATH]: JSON.stringify(data) };
}
