// Package agent is the device agent: it keeps a device's state directory,
// checks a TUF repository for background security improvements that apply to
// the device, decides what to install, roll back or retire, and applies the
// decisions through a journal so that a crash at any point leaves the old or
// the new state.
//
// # Trust model
//
// Everything the agent acts on comes from trust/client, which verifies the
// whole chain root → timestamp → snapshot → targets → component role, every
// expiry, and the length and hashes of every payload. The agent adds the
// rules that belong to improvements rather than to TUF:
//
//   - a manifest must belong where it was signed: its component equals the
//     first delegated role that signed the target and the first segment of
//     the target path, and the path is "<component>/<id>.tar.gz" (or .tar).
//     Otherwise the target is a security error (*MismatchError, wrapping
//     trust.ErrSecurity) and is never installed;
//   - nothing is installed after any security, freshness or network failure:
//     every payload a run needs is downloaded and verified before the first
//     switch, and a run with a rejected target installs nothing;
//   - a lower sequence than the installed one is reached only because the
//     installed improvement is withdrawn in signed metadata; one that
//     disappears without a withdrawal is kept and reported;
//   - improvements for another platform, release or build are never
//     installed, and those of an old release are retired when the device's
//     release changes.
//
// Staged rollouts only hold back: the entries of the verified "rollout"
// role go through [rollout.Gate] with the device's seed, ring and clock,
// and what it holds back is removed from what Plan sees (like a declined
// improvement); withdrawals and installed improvements are never held. A
// failed rollout role holds back new installs of the components its last
// verified copy named (all new installs when none is known), see DESIGN.md
// "Staged rollout".
//
// [Plan] is the pure decision core; it does no I/O.
//
// # State directory
//
//	STATE/config.json     device (platform, release, build), repository URLs,
//	                      install root (default STATE/root)
//	STATE/metadata/       trusted metadata as the exact bytes verified
//	STATE/cache/          verified payloads, one file per target path
//	STATE/installed.json  the journal: installed improvement per component,
//	                      the step in progress, declined improvements,
//	                      history and the last check
//	STATE/seed            the rollout seed: 32 random bytes, mode 0600,
//	                      never sent anywhere (see package rollout)
//	STATE/.lock           flock(2): one agent at a time
//	STATE/transparency.json  the transparency log as the device saw it: the
//	                      policy's hash, the largest accepted checkpoint
//	                      and the trusted time floor (only moving forward)
//	STATE/tlog-policy     the verified tlog-policy target
//
// When the top-level targets role lists a tlog-policy, every install needs
// the improvement's tlog-proof, verified by package transparency, and the
// TUF clock is max(device clock, time floor); see DESIGN.md
// "Transparency, on the device".
//
// Every file is written atomically (temporary file, fsync, rename, fsync of
// the directory).
//
// # Worked example
//
// A device on macOS 26.3 has webkit-26.3-a installed (sequence 1). The
// repository now lists webkit-26.3-a withdrawn ("breaks video") and
// webkit-26.3-b active with sequence 2:
//
//	Plan(device, [webkit-26.3-a], [webkit-26.3-a (withdrawn), webkit-26.3-b], nil)
//	  → Install webkit: webkit-26.3-a → webkit-26.3-b
//
// Had webkit-26.3-b not been published, the plan would be RollBack to the
// baseline. Had webkit-26.3-a merely vanished from the metadata, the plan
// would be KeepAndWarn. Once the device moves to 26.4, the plan retires
// webkit-26.3-a (Retire) in favour of the best 26.4 improvement, or the
// baseline. Had the webkit role expired (failed = {webkit: expired}), or
// signed a target whose manifest claims another component, the plan would
// be Blocked: webkit-26.3-a kept, the failure reported, and safari's
// decisions made as usual.
//
// Decisions are per component throughout: a payload that fails to
// download fails its own component; payloads, steps and requests are
// keyed by component and id ("webkit/fix-1"), since ids are unique per
// component only.
//
// Applying one decision is three journaled steps: the journal records the
// intent (from, to, payload), the installer switches the component (itself
// journaled, see package install), and the journal records the result.
// Recover, run when the agent opens the state, asks the installer to finish
// or undo its own step, then settles the journal's pending step by looking at
// which version is current.
package agent
