// Package rollout is the staged rollout of improvements: the signed
// schedule format (schema bsi.rollout/v1), its strict decoding and
// validation, the per-device bucket, and the pure decisions of whether a
// device is offered an improvement now. It does no I/O and trusts nothing
// it is given: a schedule means something only once the rollout role has
// signed the target that carries it, which the trust packages check.
//
// # Trust model
//
// A component team signs what an improvement is (its manifest, in the
// component role). How fast it goes out is signed by a separate online
// role, "rollout", delegated from targets with paths "rollout/*/*" and
// keys held by the publishing automation. The rollout role can only hold
// back: [Gate] never makes installable what a component role did not sign
// as active and applicable, never touches a withdrawal, never uninstalls,
// and ignores (and reports) an entry naming anything else. A compromised
// rollout key can at most hurry a validly signed improvement to 100% of
// devices, or halt everything (like a freeze).
//
// # Format
//
// Each gated improvement is one target "rollout/<component>/<id>.json" of
// the rollout role. Its bytes are the canonical JSON of the schedule (keys
// sorted, no white space, no HTML escaping, integers only: what
// [Schedule.Encode] writes and [Parse] demands), and its custom field
// carries the same document as {"bsi_rollout": ...} ([FromCustom]).
//
//	schema        string   exactly "bsi.rollout/v1"
//	component     string   the improvement's component (manifest rules)
//	id            string   the improvement's id (manifest rules)
//	improvement   string   its target path: "<component>/<id>.tar.gz" or ".tar"
//	start         string   RFC 3339 UTC, whole seconds, year 2000 to 9999
//	stages        [object] 1 to 32 stages, in order:
//	  basis_points  integer  1 to 10000: the share of devices, in 0.01%
//	  hold_seconds  integer  1 to 31536000 (365 days); required on every
//	                         stage but the last, absent on the last
//	  rings         [string] optional: only devices of these rings (1 to 16
//	                         names, [a-z][a-z0-9-]{0,31}, no repeats)
//	halted        object   optional: the rollout is stopped
//	  at            string   when (as start)
//	  reason        string   why: 1 to 1000 characters, no control or
//	                         format characters
//
// The last stage is 10000 basis points with no rings: every rollout ends
// at 100%. A stage may not go below an earlier stage that reaches at least
// its devices (an earlier stage without rings, or with a superset of its
// rings): "stage 3: 25% is lower than stage 2's 50%". Unknown fields,
// duplicate keys, floats, and any non-canonical spelling are errors.
//
// # Decision
//
// A device keeps a random 32-byte [Seed]. Its bucket for an improvement is
// the first 8 bytes, big-endian, of HMAC-SHA256(seed, "bsi-rollout/v1\x00"
// + component + "/" + id), modulo 10000 ([Bucket]): uniform, and different
// for each improvement. Stage i is current from start plus the holds of
// stages 0..i-1. A device is offered the improvement when the rollout is
// not halted and some stage up to the current one admits it (bucket below
// its basis points, and the device's ring among its rings when it names
// any). Stages are cumulative, so the offered set only grows. Before the
// start nothing is offered. A halt keeps the improvement from devices that
// have not installed it, never removes it. The owner of a device may
// install by hand before its stage; a halted improvement needs an explicit
// override ([Decision.ManualInstall]).
//
// # Worked example
//
// Canaries first, then 5%, 25%, everyone:
//
//	stages, _ := rollout.ParseStages("canary:100%:24h,5%:24h,25%:24h,100%")
//	s := &rollout.Schedule{Schema: rollout.Schema, Component: "webkit",
//		ID: "webkit-26.3-b", Improvement: "webkit/webkit-26.3-b.tar.gz",
//		Start: start, Stages: stages}
//	b, _ := s.Encode() // the target rollout/webkit/webkit-26.3-b.json
//
// gives the document
//
//	{"component":"webkit","id":"webkit-26.3-b","improvement":"webkit/webkit-26.3-b.tar.gz",
//	 "schema":"bsi.rollout/v1","stages":[{"basis_points":10000,"hold_seconds":86400,
//	 "rings":["canary"]},{"basis_points":500,"hold_seconds":86400},{"basis_points":2500,
//	 "hold_seconds":86400},{"basis_points":10000}],"start":"2026-12-01T00:00:00Z"}
//
// (one line). On 2026-12-02 at noon stage 2 (5%) is current: a device of
// ring "canary" is offered it, and so is a device whose bucket is below
// 500; from 2026-12-04 every device is.
package rollout
