// Package fleet is the collector of device reports: "bsi fleet serve". It
// receives the reports of package [report] over HTTP, stores them in SQLite
// (embedded, the default) or PostgreSQL (several collectors sharing one
// database), and serves per-improvement statistics as JSON and as a status
// page.
//
// # Trust model
//
// Reports are unauthenticated and pseudonymous. They can only inform a halt
// of a rollout, never widen one: a fake success report cannot hurry an
// improvement, and fake failure reports can at most cause a halt, bounded by
// the minimum number of distinct devices a halt requires and by the rate
// limits here (per device id and per client address). Every hostile input
// is refused whole with a specific 4xx and changes no statistics: a batch is
// stored entirely or not at all.
//
// # HTTP API
//
//	POST /v1/reports                  a batch (see package report); 200 {"accepted":N}
//	GET  /v1/stats                    {"improvements":[ImprovementStats...]}
//	GET  /v1/stats/{component}/{id}   one ImprovementStats, 404 when no reports
//	GET  /healthz                     "ok", 503 when the database does not answer
//	GET  /                            the status page (HTML, no script, no external asset)
//
// Refusals carry a JSON body {"reason":..., "error":..., "report":i,
// "field":f}: 400 for a malformed or invalid batch (reason is the
// report.Reason), 413 for a body over the limit, 415 for a wrong
// Content-Type or any Content-Encoding, 429 with Retry-After for a flood
// from one device ("rate-device") or one address ("rate-address"), 503 when
// the database failed (retry later).
//
// # Durability
//
// Reports of concurrent requests are written by one committer goroutine in
// one transaction (group commit); each request is answered only after the
// transaction holding its reports has committed. SQLite runs in WAL mode
// with synchronous=FULL, PostgreSQL with its default synchronous commit, so
// an acknowledged report survives a kill -9 of the collector. Reports carry
// a random report_id: a device that got no answer sends the same batch
// again, and the reports already stored are skipped.
//
// # Worked example
//
//	$ bsi fleet serve --db sqlite:fleet.db --addr 127.0.0.1:8090 &
//	$ curl -s -H 'Content-Type: application/json' --data-binary @batch.json \
//	    http://127.0.0.1:8090/v1/reports
//	{"accepted":1}
//	$ curl -s http://127.0.0.1:8090/v1/stats/webkit/wk-2026-001
//	{"component":"webkit","improvement":"wk-2026-001","devices":1,
//	 "attempted_devices":1,"failed_devices":1,"failure_rate":1,...}
package fleet
