// Package conformance is bsi's suite for auditors: attack scenarios that
// any TUF client speaking the client CLI protocol can be run against, a
// repository simulator that stages them (package sim), a runner with
// human, JSON and JUnit reports, and an audit of a published repository.
//
// # Client protocol
//
// A client is a command (its words in Options.Client) run as a child
// process, once per step, with exit 0 on success and 1 on failure:
//
//	CLIENT --metadata-dir D init ROOTFILE
//	CLIENT --metadata-url U --metadata-dir D refresh
//	CLIENT --metadata-url U --metadata-dir D --target-name T \
//	       --target-dir TD --target-base-url TU download
//
// The client keeps the role files it trusts in D as ROLE.json; downloaded
// targets go to TD under their percent-encoded path (or their path).
// Each scenario has its own directories and its own simulator on
// 127.0.0.1, and a timeout: a client that hangs fails that scenario only.
// Before the first scenario, Run checks the client (CheckClient): its
// command must exist, be executable and answer "init" with a trivial
// root; otherwise Run returns a *ClientError and runs nothing.
//
// # Scenarios
//
// Each scenario is named "group/name", says in one line what the
// repository does and what the client must do, and cites the TUF
// specification section (https://theupdateframework.github.io/specification/latest/).
// Groups: basic (workflow and request sequence), root (rotation), expiry,
// rollback (and fast-forward recovery), keys (types, thresholds), delegation,
// names (unusual role and target names), targets (hashes, caching), limits
// (endless data), and bsi, which drives "bsi client" (Options.BSI) through
// the device rules of DESIGN.md.
//
// # The bsi group
//
// Each bsi scenario publishes improvements (manifests in custom.bsi, real
// tar.gz payloads, one delegated role per component) with the real
// publisher, package trust/repo, into the scenario's simulator
// (sim.Publisher), then stages what the publisher refuses to make (a
// manifest signed by the wrong role, a stale or replayed timestamp, a
// forged payload, a delisted improvement) by editing the published
// metadata with go-tuf. The device is "bsi client" with its state in the
// scenario's metadata directory and its install root in the target
// directory; a scenario judges it by its exit code (0, 1, 3 security, 4
// freshness), by "bsi client status STATE --json", and by the install
// root's <component>/current links and the files they hold. Each cites
// its rule of DESIGN.md "Client decision rules": withdrawal rolls back (to
// the next lower improvement or the baseline), disappearance is kept and
// reported, a lower sequence is never reached otherwise, a release change
// retires, another platform, release or build never installs, a manifest
// must match its signing role, freeze and rollback install nothing, a
// forged payload installs nothing, a failed health check undoes.
//
// # Containment
//
// Some scenarios stage one key holder reaching beyond its role through the
// structure of the metadata: a nested role named like a top-level
// component (delegation/nested-role-shadows-component: webkit's key
// delegates a role named safari and the mirror serves it as safari.json),
// 2^32 succinct hash bins (delegation/succinct-bit-length-32, answered
// within a time bound), one key listed and counted twice
// (keys/delegated-key-listed-twice), and an envelope key "ſigned" that
// equals "signed" only under Unicode case folding
// (basic/envelope-folded-signed). In the bsi group, one component's
// expired or hostile role must not stop another's install or withdrawal
// (bsi/expired-role-confined, bsi/manifest-wrong-role-confined).
//
// Fault names the check a scenario is aimed at ("signature", "expiry",
// "rollback", "hash", "length", ...): a client that skips that check
// fails the scenario.
//
// # Expected failures
//
// An xfail file lists scenario names, one a line, each optionally
// followed by a reason. A listed scenario that fails is reported as an
// expected failure; one that passes is reported as an unexpected pass, a
// failure, so the list cannot go stale.
//
// # Worked example
//
//	rep, err := conformance.Run(ctx, conformance.Options{
//		Client:   []string{"/usr/local/bin/bsi", "tuf-client"},
//		Groups:   []string{"rollback"},
//		Parallel: 4,
//	})
//	if err != nil { ... }
//	rep.WriteText(os.Stdout)
//	if !rep.OK() { os.Exit(1) }
//
// # Tests
//
// "go test ./conformance" runs the whole suite against go-tuf's updater
// (its known failures in testdata/gotuf.xfails), against bsi (every group;
// TestSelfCheck), broken go-tuf clients against the scenarios aimed at the
// check they skip, broken bsi clients against the bsi scenarios aimed at
// them, and audits of repositories published by trust/repo, intact and
// corrupted. The clients (bsi and the go-tuf adapter) are built once
// without the race detector into the user cache directory and reused while
// up to date. BSI_CONFORMANCE_FULL=1 runs the complete matrix: go-tuf also
// through the race-built test binary, and every broken client against the
// whole suite:
//
//	BSI_CONFORMANCE_FULL=1 go test -race ./conformance
//
// # Audit
//
// Audit walks a published repository from a trusted root and reports every
// finding rather than stopping at the first: signatures and thresholds of
// every role, delegations and path restrictions, snapshot and timestamp
// consistency, consistent-snapshot file presence, every target's length and
// hashes, every manifest and its match with its signing role and the
// sequence rules, key hygiene, and the expiry budget of each role.
//
// The walk verifies with go-tuf's metadata package; the audit then
// verifies the same repository again with the core devices run
// (trust/client: a refresh and Components from the same trusted root at
// the same time, AuditOptions.Now) and reports every place where the two
// verdicts differ as a verifier-disagreement (an error: devices and other
// TUF clients would not agree on this repository). Keys devices cannot use
// are key-unusable warnings naming the reason. Target files are looked up
// under their hash-prefixed names only when the root enables consistent
// snapshots (5.7.3). A role's Verified is true only when it and every role
// above it, up to the trusted root, verified.
//
// # Report formats
//
// WriteJSON follows the versioned schemas under schema/ (bsi.audit/v1,
// bsi.conformance/v1, bsi.conformance-matrix/v1): fields are only ever
// added under one name. WriteHTML writes one self-contained page (inline
// styles and SVG, no script), escaping all text from repositories and
// clients. The audit fixtures under testdata/audit are TUF repositories
// published by go-tuf (regenerate: go test ./conformance -run
// TestAuditFixtures -update).
package conformance
