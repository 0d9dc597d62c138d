// Package demo runs the whole of bsi on one machine, with nothing to
// configure: a publisher, a repository served over loopback HTTP, a device,
// and an attacker between them. It is what "bsi demo" prints, and it is an
// end-to-end test of the real code paths: the same workspace, server, agent,
// verifying client and installer that production uses, with real keys, real
// signatures, real files and real HTTP on 127.0.0.1.
//
// # The story
//
//  1. A publisher generates its keys (a 2-of-3 root), creates a repository
//     with components safari, webkit and libsystem, and publishes one
//     improvement "(a)" for each on release 26.3 of platform macos.
//  2. A device on macos 26.3 trusts the root, checks, and installs them.
//  3. An attacker between the device and the repository replays an older
//     timestamp (rollback), freezes the repository past the timestamp's
//     expiry (freeze), and tampers with a payload in flight: the device
//     refuses each with the client's real error and installs nothing.
//  4. A compromised webkit team key signs an improvement for safari's paths
//     and one that claims to be safari's: a device refuses both.
//  5. An improvement for release 26.2 is published: the device on 26.3
//     ignores it.
//  6. The publisher withdraws webkit (a); the device rolls it back.
//  7. The publisher releases the replacement webkit (b) under a staged
//     rollout (canary ring, then 10% after an hour, everyone after two),
//     signed by an online rollout key. A fleet of 100 real agents over
//     loopback (every tenth in the canary ring, each with its own seed)
//     follows it: the canaries install it, then the devices whose bucket
//     is below 10%; on some the health check fails and the agent switches
//     back. The publisher halts the rollout ([world.publisherHalts], one
//     call that an automatic watcher of device reports can make): the
//     devices that have it keep it, the others never get it, even when
//     100% comes. It then withdraws webkit (b), and the whole fleet rolls
//     back.
//  8. The device moves to release 26.4 and retires the 26.3 improvements.
//  9. The publisher turns the transparency log on: three witnesses
//     (the code of "bsi witness serve") on loopback, a 2-of-3 policy as a
//     signed targets target; webkit 26.4 (a) is logged, cosigned and
//     installed with its inclusion proof. An attacker holding the webkit,
//     online and log keys shows the device alone a release logged in a
//     fork of the log (split view): no witness cosigned that fork, so the
//     device refuses it (security). The same attacker logs a release in
//     the genuine log (the witnesses cosign it: the log only grew), and the
//     webkit team's monitor reports a webkit release the team never made.
//
// Each step is an Event with what happened and why it matters. A step fails
// when bsi did not behave as expected (an attack got through, an install did
// not happen); Run returns an error then. The package's tests prove it: they
// break one defence at a time (the device forgets its trusted timestamp
// before the replay, its clock lags during the freeze, the attacker's
// tampering is a no-op, the witnesses cosign the attacker's fork of the
// log) and require Run to fail naming exactly that step.
//
// Time is a demo clock shared by publisher and device, so the freeze attack
// moves time forward instead of sleeping. The attacker is an HTTP handler in
// front of the real server; the forged webkit publication is served by a
// second loopback server to a second device, so that the main device's
// trusted state is never touched by it.
package demo
