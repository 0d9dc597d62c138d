package conformance

import (
	"encoding/json"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// useKeys rotates the root so that each of roles has n keys of type typ
// and threshold, and republishes everything.
func useKeys(r *sim.Repo, typ sim.KeyType, n, threshold int, roles ...string) {
	r.RotateRoot(func(root *metadata.RootType) {
		for _, role := range roles {
			r.ReplaceKeys(root, role, typ, n, threshold)
		}
	})
	r.Publish("targets")
}

// keyTypeScenario: all of timestamp, snapshot, targets (and root) use typ.
func keyTypeScenario(name string, typ sim.KeyType) Scenario {
	return good("keys/"+name, "timestamp, snapshot, targets and root keys of type "+string(typ)+" verify", "4.2 keys", func(t *T) {
		t.Init()
		useKeys(t.Repo, typ, 1, 1, "root", "timestamp", "snapshot", "targets")
		t.Succeeds("refresh", t.Refresh())
		t.WantTrusted("root", 2)
		t.WantTrusted("targets", 2)
	})
}

// timestampSigs republishes a new timestamp signed by keys, with its
// signature list then changed by edit (nil: unchanged).
func timestampSigs(t *T, keys []*sim.Key, edit func([]metadata.Signature) []metadata.Signature) {
	r := t.Repo
	bump(r)
	sim.SignWith(r, r.Timestamp, keys)
	if edit != nil {
		r.Timestamp.Signatures = edit(r.Timestamp.Signatures)
	}
	b, err := r.Timestamp.ToBytes(true)
	if err != nil {
		t.Fatalf("%v", err)
	}
	r.Set("timestamp.json", b)
}

func keyScenarios() []Scenario {
	return []Scenario{
		keyTypeScenario("ed25519", sim.Ed25519),
		keyTypeScenario("ecdsa-p256", sim.ECDSA),
		keyTypeScenario("ecdsa-p256-legacy-keytype", sim.ECDSALegacy),
		keyTypeScenario("rsa-pss-sha256", sim.RSAPSS),
		good("keys/threshold-2-of-3", "a timestamp signed by 2 of its 3 keys (threshold 2) is accepted", "5.4.2", func(t *T) {
			t.fresh()
			useKeys(t.Repo, sim.Ed25519, 3, 2, "timestamp")
			timestampSigs(t, t.Repo.Signers["timestamp"][1:], nil)
			t.Succeeds("refresh", t.Refresh())
		}),
		bad("keys/threshold-unmet", "a timestamp signed by 1 of its 3 keys (threshold 2) is refused", "5.4.2", "signature", func(t *T) {
			t.fresh()
			useKeys(t.Repo, sim.Ed25519, 3, 2, "timestamp")
			t.Succeeds("refresh", t.Refresh())
			timestampSigs(t, t.Repo.Signers["timestamp"][:1], nil)
			t.Fails("refresh", t.Refresh())
		}),
		good("keys/mixed-types", "a timestamp with ed25519, ECDSA and RSA-PSS keys (threshold 3) signed by all is accepted", "4.2 keys", func(t *T) {
			t.Init()
			r := t.Repo
			r.RotateRoot(func(root *metadata.RootType) {
				r.ReplaceKeys(root, "timestamp", sim.Ed25519, 1, 1)
				for _, typ := range []sim.KeyType{sim.ECDSA, sim.RSAPSS} {
					k := r.NewKey(typ)
					r.Signers["timestamp"] = append(r.Signers["timestamp"], k)
					if err := root.AddKey(k.Key, "timestamp"); err != nil {
						t.Fatalf("%v", err)
					}
				}
				root.Roles["timestamp"].Threshold = 3
			})
			bump(r)
			t.Succeeds("refresh", t.Refresh())
		}),
		bad("keys/duplicate-signature", "one key's signature twice does not make a threshold of 2", "5.4.2", "signature", func(t *T) {
			t.fresh()
			useKeys(t.Repo, sim.Ed25519, 2, 2, "timestamp")
			t.Succeeds("refresh", t.Refresh())
			timestampSigs(t, t.Repo.Signers["timestamp"][:1], func(s []metadata.Signature) []metadata.Signature {
				return append(s, s[0])
			})
			t.Fails("refresh", t.Refresh())
		}),
		bad("keys/duplicate-key-under-two-ids", "one public key listed under two key ids does not make a threshold of 2", "4.2, 5.4.2", "signature", func(t *T) {
			t.fresh()
			r := t.Repo
			k := r.Signers["timestamp"][0]
			const fakeID = "0000000000000000000000000000000000000000000000000000000000000001"
			r.RotateRoot(func(root *metadata.RootType) {
				root.Keys[fakeID] = k.Key
				root.Roles["timestamp"].KeyIDs = append(root.Roles["timestamp"].KeyIDs, fakeID)
				root.Roles["timestamp"].Threshold = 2
			})
			timestampSigs(t, []*sim.Key{k}, func(s []metadata.Signature) []metadata.Signature {
				return append(s, metadata.Signature{KeyID: fakeID, Signature: s[0].Signature})
			})
			t.Fails("refresh", t.Refresh())
		}),
		good("keys/extra-unknown-signature", "an extra garbage signature by an unknown key id does not spoil a met threshold", "5.4.2", func(t *T) {
			t.fresh()
			timestampSigs(t, t.Repo.Signers["timestamp"], func(s []metadata.Signature) []metadata.Signature {
				return append(s, metadata.Signature{KeyID: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", Signature: make([]byte, 64)})
			})
			t.Succeeds("refresh", t.Refresh())
			t.WantTrusted("timestamp", 2)
		}),
		good("keys/extra-invalid-known-signature", "an invalid signature by a second listed key does not spoil a met threshold of 1", "5.4.2", func(t *T) {
			t.fresh()
			useKeys(t.Repo, sim.Ed25519, 2, 1, "timestamp")
			ks := t.Repo.Signers["timestamp"]
			timestampSigs(t, ks[:1], func(s []metadata.Signature) []metadata.Signature {
				return append(s, metadata.Signature{KeyID: ks[1].ID, Signature: make([]byte, 64)})
			})
			t.Succeeds("refresh", t.Refresh())
		}),
		bad("keys/wrong-key-timestamp", "a timestamp signed by an unknown key is refused", "5.4.2", "signature", refused(func(t *T) {
			bump(t.Repo)
			t.Repo.Set("timestamp.json", sim.SignWith(t.Repo, t.Repo.Timestamp, []*sim.Key{t.Repo.NewKey(sim.Ed25519)}))
		})),
		bad("keys/wrong-key-snapshot", "a snapshot signed by the timestamp key is refused", "5.5.3", "signature", refused(func(t *T) {
			r := t.Repo
			r.Signers["snapshot"] = r.Signers["timestamp"]
			bump(r)
		})),
		bad("keys/wrong-key-targets", "targets signed by the snapshot key is refused", "5.6.3", "signature", refused(func(t *T) {
			r := t.Repo
			r.Signers["targets"] = r.Signers["snapshot"]
			r.Publish("targets")
		})),
		bad("keys/tampered-signed", "a timestamp whose signed part changed after signing is refused", "5.4.2", "signature", refused(func(t *T) {
			r := t.Repo
			bump(r)
			var doc map[string]any
			if err := json.Unmarshal(r.Get("timestamp.json"), &doc); err != nil {
				t.Fatalf("%v", err)
			}
			doc["signed"].(map[string]any)["version"] = 7
			b, _ := json.Marshal(doc)
			r.Set("timestamp.json", b)
		})),
		bad("keys/no-signatures", "a timestamp with an empty signature list is refused", "5.4.2", "signature", refused(func(t *T) {
			r := t.Repo
			bump(r)
			r.Timestamp.ClearSignatures()
			b, _ := r.Timestamp.ToBytes(true)
			r.Set("timestamp.json", b)
		})),
	}
}
