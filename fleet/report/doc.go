// Package report is the wire format of fleet reports: what a device tells
// the collector ("bsi fleet serve") about one improvement. It imports only
// the standard library, so that the device agent can build and send reports
// without linking any of the collector's storage or HTTP code.
//
// # Trust model
//
// Reports are unauthenticated claims from devices. They can only ever inform
// a halt of a rollout: a fake success report cannot hurry an improvement
// (the signed rollout role alone widens a rollout), and fake failure reports
// can at most halt one, bounded by the minimum number of distinct devices a
// halt needs and by the collector's per-device and per-address rate limits.
// The decoder is therefore strict and bounded: it refuses anything it does
// not fully understand and never allocates more than the (already bounded)
// input.
//
// # Privacy
//
// A device is named by a pseudonymous id: 16 random bytes created once when
// the device is initialised, written as 32 lower-case hex digits. It is
// never derived from a hostname, an address or a hardware serial, and the
// format leaves no room for one.
//
// # Format
//
// A POST to /v1/reports carries one batch: a JSON object with exactly one
// field, "reports", an array of 1 to [MaxBatch] report objects. Each report
// object has the fields below, spelled exactly (no case folding), each at
// most once, no others. Strings are at most [MaxField] bytes of printable
// ASCII unless a narrower form is given.
//
//	report_id    32 lower-case hex digits, random per report: the idempotency key
//	device       32 lower-case hex digits: the pseudonymous device id
//	platform     [a-z0-9][a-z0-9._-]*            e.g. "examplephone"
//	release      [0-9A-Za-z][0-9A-Za-z._+-]*     e.g. "26.3"
//	build        optional, same form as release  e.g. "23D60"
//	ring         optional, [a-z0-9-]*            e.g. "canary"
//	component    a component name (see manifest.ValidComponent)
//	improvement  an improvement id: [a-z0-9][a-z0-9.+-]{2,63}, no ".."
//	sequence     integer 1..2^31-1: the improvement's sequence
//	stage        integer 0..1000: the rollout stage the device was in (0: none)
//	outcome      one of the Outcome constants
//	error_class  optional, [a-z0-9._-]*: why it failed, e.g. "health.timeout"
//	time         RFC 3339 time in UTC ("Z"), whole seconds or fractions
//
// A worked example of a batch with one report:
//
//	{"reports":[{
//	  "report_id":"5b0e3f9c2d6a4e18a7c1f0d29e8b3a41",
//	  "device":"9f86d081884c7d659a2feaa0c55ad015",
//	  "platform":"examplephone","release":"26.3","build":"23D60","ring":"canary",
//	  "component":"webkit","improvement":"wk-2026-001","sequence":1,"stage":2,
//	  "outcome":"health-failed","error_class":"health.timeout",
//	  "time":"2026-12-03T14:00:00Z"}]}
//
// [Decode] returns the batch, or a *[DecodeError] whose Reason is one of
// the Reason constants and says which report and field failed.
package report
