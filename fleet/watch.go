package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// HaltPolicy is when "bsi rollout watch" halts a rollout: when more than
// MaxFailureRate of the distinct devices that attempted the improvement
// failed it (health-failed or rolled-back), with at least MinDevices
// attempted. Reports can only ever halt: nothing here widens a rollout.
type HaltPolicy struct {
	// MaxFailureRate is a fraction in (0, 1]: 0.02 for 2%.
	MaxFailureRate float64
	// MinDevices is the fewest distinct devices that attempted the
	// improvement for a halt (at least 1): a few reports, true or forged,
	// halt nothing.
	MinDevices int
}

// Validate checks the policy's bounds.
func (p HaltPolicy) Validate() error {
	if !(p.MaxFailureRate > 0 && p.MaxFailureRate <= 1) {
		return fmt.Errorf("fleet: maximum failure rate %v is not in (0, 1]", p.MaxFailureRate)
	}
	if p.MinDevices < 1 {
		return fmt.Errorf("fleet: minimum devices %d is below 1", p.MinDevices)
	}
	return nil
}

// Judge says whether the statistics s call for a halt, and why, with the
// numbers: "auto-halt: 7 of 60 devices failed (11.7%) > 2%". When they do
// not, reason says why not, for logs.
//
// The rate is computed from the counts (failed / attempted), not taken
// from the answer's failure_rate; counts that contradict each other
// (failed above attempted, or negative) halt nothing.
func (p HaltPolicy) Judge(s ImprovementStats) (halt bool, reason string) {
	if s.FailedDevices < 0 || s.AttemptedDevices < 0 || s.FailedDevices > s.AttemptedDevices {
		return false, fmt.Sprintf("inconsistent statistics: %d of %d devices failed", s.FailedDevices, s.AttemptedDevices)
	}
	var f float64
	if s.AttemptedDevices > 0 {
		f = float64(s.FailedDevices) / float64(s.AttemptedDevices)
	}
	rate := FormatRate(f)
	switch {
	case s.AttemptedDevices < p.MinDevices:
		return false, fmt.Sprintf("%d of %d devices failed (%s); waiting for %d devices",
			s.FailedDevices, s.AttemptedDevices, rate, p.MinDevices)
	case f > p.MaxFailureRate:
		return true, fmt.Sprintf("auto-halt: %d of %d devices failed (%s) > %s",
			s.FailedDevices, s.AttemptedDevices, rate, FormatRate(p.MaxFailureRate))
	}
	return false, fmt.Sprintf("%d of %d devices failed (%s) <= %s",
		s.FailedDevices, s.AttemptedDevices, rate, FormatRate(p.MaxFailureRate))
}

// Rollout names an improvement that is rolling out, for Decide.
type Rollout struct {
	Component, ID string
	Halted        bool
}

// Decision is Decide's verdict on one rollout that has reports.
type Decision struct {
	Rollout
	Halt   bool
	Reason string
}

// Decide judges every rollout that is not halted and has statistics:
// the pure core of "bsi rollout watch", which then halts those with Halt
// set. Rollouts without reports, or halted already, get no decision.
func (p HaltPolicy) Decide(stats []ImprovementStats, rollouts []Rollout) []Decision {
	byKey := make(map[string]ImprovementStats, len(stats))
	for _, s := range stats {
		byKey[s.Component+"/"+s.Improvement] = s
	}
	var out []Decision
	for _, r := range rollouts {
		s, ok := byKey[r.Component+"/"+r.ID]
		if r.Halted || !ok {
			continue
		}
		halt, reason := p.Judge(s)
		out = append(out, Decision{Rollout: r, Halt: halt, Reason: reason})
	}
	return out
}

// FormatRate writes a fraction as a percentage with at most one decimal:
// 0.117 → "11.7%", 0.02 → "2%".
func FormatRate(f float64) string {
	s := strconv.FormatFloat(f*100, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + "%"
}

// ParseRate reads a percentage ("2%", "0.5%", "2") as a fraction in (0, 1].
func ParseRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || !(v > 0 && v <= 100) {
		return 0, fmt.Errorf("failure rate %q is not a percentage above 0 and at most 100", s)
	}
	return v / 100, nil
}

// maxStatsBody bounds the answer of GET /v1/stats that FetchStats reads.
const maxStatsBody = 32 << 20

// FetchStats gets the statistics of every improvement from the collector
// at base (GET base/v1/stats), reading at most 32 MiB. hc nil means
// http.DefaultClient.
func FetchStats(ctx context.Context, hc *http.Client, base string) ([]ImprovementStats, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	u := strings.TrimSuffix(base, "/") + "/v1/stats"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fleet stats %s: %w", u, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fleet stats: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatsBody+1))
	if err != nil {
		return nil, fmt.Errorf("fleet stats %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fleet stats %s: HTTP %d", u, resp.StatusCode)
	}
	if len(body) > maxStatsBody {
		return nil, fmt.Errorf("fleet stats %s: answer larger than %d bytes", u, maxStatsBody)
	}
	var sr StatsResponse
	if err := json.Unmarshal(body, &sr); err != nil {
		return nil, fmt.Errorf("fleet stats %s: %w", u, err)
	}
	return sr.Improvements, nil
}
