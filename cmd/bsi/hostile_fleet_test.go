package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/bsiframework/bsi/keys"
)

// Statistics served to "bsi rollout watch" by a hostile or broken fleet
// collector (or whoever sits between it and the publisher). The watcher
// reads a bounded answer, computes the failure rate from the counts
// itself, and can at worst halt (the safe direction): none of these
// changes the workspace. Hostile reports posted to the collector itself
// are fleet's TestAttackHostileReports (an HTTP entry point, not a bsi
// command line, so not in this catalogue).
var hostileFleet = []hostileInput{
	{name: "fleet/stats-endless", fx: fxWorkspace, stage: watchedRollout(endlessStats), args: watchOnce, code: 1, stderr: "fleet stats…larger than"},
	{name: "fleet/stats-deep-nesting", fx: fxWorkspace, stage: watchedRollout(staticStats(`{"improvements":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}")),
		args: watchOnce, code: 1, stderr: "fleet stats"},
	{name: "fleet/stats-not-json", fx: fxWorkspace, stage: watchedRollout(staticStats("<html>\x1b[31mhalt everything</html>")), args: watchOnce, code: 1, stderr: "fleet stats"},
	{name: "fleet/stats-http-500", fx: fxWorkspace, stage: watchedRollout(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }),
		args: watchOnce, code: 1, stderr: "HTTP 500"},
	{name: "fleet/stats-failed-above-attempted", fx: fxWorkspace, stage: watchedRollout(staticStats(statsJSON(100, 500, 5))), args: watchOnce, code: 0,
		stderr: "inconsistent statistics: 500 of 100 devices failed"},
	{name: "fleet/stats-forged-failure-rate", fx: fxWorkspace, stage: watchedRollout(staticStats(statsJSON(100, 0, 1))), args: watchOnce, code: 0,
		stderr: "0 of 100 devices failed (0%) <= 2%"},
}

var watchOnce = []string{"rollout", "watch", "$WS", "--fleet", "$FLEET", "--max-failure-rate", "2%", "--min-devices", "5", "--once", "--publish"}

func statsJSON(attempted, failed int, rate float64) string {
	return fmt.Sprintf(`{"improvements":[{"component":"webkit","improvement":"webkit-26.3-a","devices":%d,`+
		`"attempted_devices":%d,"failed_devices":%d,"failure_rate":%g,"outcomes":{},"by_stage":[],"by_ring":[],"by_release":[]}]}`,
		attempted, attempted, failed, rate)
}

func staticStats(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

// endlessStats never ends its answer.
func endlessStats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"improvements":[`)
	chunk := []byte(strings.Repeat(`{"component":"webkit"},`, 1000))
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// watchedRollout gives the workspace a rollout role (key in $DIR) with
// webkit-26.3-a rolling out, and serves stats from h as $FLEET.
func watchedRollout(stats http.HandlerFunc) func(*hostileEnv) {
	return func(h *hostileEnv) {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			h.t.Fatal(err)
		}
		if err := keys.WriteKeyPair(h.path("rollout.key"), priv, nil); err != nil {
			h.t.Fatal(err)
		}
		h.must("rollout", "enable", "$WS", "--key", "$DIR/rollout.key")
		h.must("repo", "sign", "$WS", "--key", "$DIR/targets.key")
		h.must("rollout", "start", "$WS", "webkit-26.3-a", "--stages", "100%")
		srv := httptest.NewServer(stats)
		h.t.Cleanup(srv.Close)
		h.vars["$FLEET"] = srv.URL
	}
}
