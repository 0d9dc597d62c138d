package repo_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/trust/repo"
)

// A staged rollout: the workspace gets an online rollout key at init; each
// change re-signs the rollout role with it, and publish writes it.
func ExampleWorkspace_StartRollout() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "bsi-example")
	defer os.RemoveAll(dir)
	keys := exampleKeys{}
	ws, err := repo.Init(ctx, filepath.Join(dir, "ws"), keys.options(), repo.InitOptions{
		RootKeys: keys.public("root"), TargetsKeys: keys.public("targets"),
		SnapshotKey: "snapshot", TimestampKey: "timestamp", RolloutKey: "rollout"})
	if err != nil {
		log.Fatal(err)
	}
	defer ws.Close()
	ws.Delegate(ctx, "webkit", repo.DelegateOptions{Keys: keys.public("webkit")})
	if _, err := ws.Add(ctx, repo.AddRequest{Manifest: exampleManifest("webkit-26.3-a", 1),
		Payload: examplePayload(dir, "webkit-26.3-a"), Signers: []signature.Signer{keys.signer("webkit")}}); err != nil {
		log.Fatal(err)
	}
	stages, _ := rollout.ParseStages("canary:100%:24h,5%:24h,100%")
	st, err := ws.StartRollout(ctx, "webkit-26.3-a", time.Time{}, stages)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Target, "stage", st.Stage, st.Rings, st.Percent, "next", st.NextAt.Format(time.RFC3339))
	st, _ = ws.HaltRollout(ctx, "webkit-26.3-a", "crash reports from the canaries")
	fmt.Println("halted:", st.Halted, st.Schedule.Halted.Reason)
	// Output:
	// rollout/webkit/webkit-26.3-a.json stage 1 [canary] 100% next 2026-03-02T12:00:00Z
	// halted: true crash reports from the canaries
}
