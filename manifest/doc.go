// Package manifest defines what a background security improvement is: its
// manifest (schema bsi.improvement/v1), strict decoding and validation,
// the custom field of the TUF target that carries it, and the pure decisions
// of which improvement applies to a device.
//
// The package imports nothing of the project and does no I/O. It trusts
// nothing it is given: a manifest is only meaningful once the TUF role of its
// component has signed the target that carries it, which the trust packages
// check. What this package guarantees is that two parsers cannot read one
// manifest two ways: every ambiguity (duplicate keys, unknown fields, floats,
// trailing data, lone surrogates) is an error, never a silent choice.
//
// # Format
//
// A manifest is one JSON object of at most [MaxSize] bytes of UTF-8. Every
// field is listed below; any other field is an error, so that a typo never
// silently changes meaning. Fields marked optional may be omitted; all others
// must be present, even when false.
//
//	schema            string   exactly "bsi.improvement/v1"
//	id                string   ^[a-z0-9][a-z0-9.+-]{2,63}$ without ".."; the payload is the
//	                           target "<component>/<id>.tar.gz" (or .tar)
//	title             string   1 to 200 characters, no control characters or U+FFFD
//	platform          string   a name: 1 to 64 of [A-Za-z0-9._+-], first a letter or digit
//	component         string   ^[a-z][a-z0-9-]{0,31}$, not root, targets,
//	                           snapshot, timestamp or rollout; equals the signing role
//	applies_to        object
//	  releases        [string] at least one release name (same rule as platform)
//	  builds          [string] optional; when set, only these builds
//	sequence          integer  1 to 2147483647, per platform+release+component;
//	                           shown as (a), (b), ... (z), (aa) by SequenceLabel
//	severity          string   critical, high, medium or low
//	advisories        [string] optional; CVE-YYYY-NNNN with four or more digits
//	supersedes        [string] optional; ids, never the manifest's own
//	requires_restart  boolean
//	released          string   RFC 3339 in UTC, whole seconds: 2026-11-27T10:00:00Z
//	status            string   active or withdrawn
//	withdrawn_reason  string   required exactly when status is withdrawn,
//	                           up to 1000 characters, no control characters
//
// Lists hold at most [MaxListLen] entries and no entry twice. Numbers are
// integers only: canonical JSON, which TUF signs, has no floats, so 1.0 and
// 1e0 are refused. An empty optional list decodes as absent.
//
// # Worked example
//
// The first WebKit improvement for macOS 26.3, labelled "26.3 (a)":
//
//	{
//	  "schema": "bsi.improvement/v1",
//	  "id": "webkit-26.3-a",
//	  "title": "WebKit: use-after-free in media element",
//	  "platform": "macos",
//	  "component": "webkit",
//	  "applies_to": {
//	    "releases": ["26.3"]
//	  },
//	  "sequence": 1,
//	  "severity": "high",
//	  "advisories": ["CVE-2026-20001"],
//	  "requires_restart": false,
//	  "released": "2026-11-27T10:00:00Z",
//	  "status": "active"
//	}
//
// Withdrawing it means publishing the same manifest with "status":
// "withdrawn" and a "withdrawn_reason"; the target stays listed so that
// devices see the withdrawal.
//
// # Errors
//
// [Decode], [FromCustom] and [Manifest.Validate] report every problem they
// find as a *[ValidationError], a list of *[FieldError] with a JSON path and a
// problem:
//
//	applies_to.releases[1]: "26.3" repeats applies_to.releases[0]
//	sequence: 1.5 is not an integer: numbers with a fraction or an exponent are not allowed
//	status: "pulled" is not one of active, withdrawn
//
// Structural problems (syntax, types, unknown, missing or duplicate fields)
// are reported first and alone; the rules above are checked once the
// structure is sound.
//
// Decoding uses a small JSON lexer of its own rather than encoding/json's
// Decoder.Token, which allocates for every token: about 20 allocations and a
// few microseconds per manifest, so a client can read the manifests of
// 100 000 targets in well under a second. The fuzz tests hold it to
// encoding/json: whatever it accepts, encoding/json reads to the same
// manifest, and every string unescapes identically.
//
// # In TUF metadata
//
// The manifest travels in the custom field of its target, under the key
// "bsi", so a client decides what applies without downloading any payload:
//
//	"webkit/webkit-26.3-a.tar.gz": {
//	  "length": 48213,
//	  "hashes": {"sha256": "..."},
//	  "custom": {"bsi": {"schema": "bsi.improvement/v1", "id": "webkit-26.3-a", ...}}
//	}
//
// [Manifest.Custom] writes that value and [FromCustom] reads it back;
// [Manifest.CheckTargetPath] checks that the target path matches the
// component and id. A custom field without "bsi" gives [ErrNoManifest].
//
// # Applicability and selection
//
// [Manifest.Check] tells whether an improvement applies to a [Device]
// (platform, release, build) and otherwise why, as a [Reason]: WrongPlatform,
// WrongRelease, WrongBuild, then Withdrawn. [Select] picks the desired
// improvement among one component's manifests: the active applicable one
// with the highest sequence. What to do with what is already installed (keep
// an improvement that vanished from metadata, roll back only on a signed
// withdrawal, retire improvements of an old release) is the client's
// decision, built on these two functions.
package manifest
