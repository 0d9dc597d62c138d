package fleet

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"

	"github.com/bsiframework/bsi/fleet/report"
)

// The status page is one self-contained HTML document: inline CSS, charts
// drawn as SVG on the server, no script, no external asset (the Content
// Security Policy forbids them). Every number carries a data-stat attribute
// naming it, so that tests (and scrapers) read the page without guessing.

// outcomeColors colours the outcomes in the charts.
var outcomeColors = map[report.Outcome]string{
	report.Offered:          "#9ca3af",
	report.Installed:        "#16a34a",
	report.HealthFailed:     "#dc2626",
	report.RolledBack:       "#f97316",
	report.SecurityFailure:  "#7c3aed",
	report.FreshnessFailure: "#2563eb",
	report.Declined:         "#a16207",
	report.Retired:          "#0f766e",
}

type barSeg struct {
	X, W    float64
	Color   string
	Outcome string
	Devices int
}

type bar struct {
	Label string
	Y     int
	Segs  []barSeg
	Group Group
}

type statusImp struct {
	ImprovementStats
	Bars   []bar
	Height int
}

type statusPage struct {
	Outcomes []report.Outcome
	Colors   map[report.Outcome]string
	Imps     []statusImp
}

const (
	chartLabelW = 90
	chartBarW   = 520
	chartRowH   = 26
)

func buildStatus(st []ImprovementStats) statusPage {
	p := statusPage{Outcomes: report.Outcomes, Colors: outcomeColors}
	for _, s := range st {
		si := statusImp{ImprovementStats: s}
		// Bars are scaled to the largest stage of this improvement: the
		// sum of its per-outcome device counts.
		maxSum := 1
		for _, g := range s.ByStage {
			sum := 0
			for _, o := range report.Outcomes {
				sum += g.Outcomes[string(o)].Devices
			}
			maxSum = max(maxSum, sum)
		}
		for i, g := range s.ByStage {
			b := bar{Label: "stage " + g.Key, Y: i * chartRowH, Group: g}
			x := float64(chartLabelW)
			for _, o := range report.Outcomes {
				n := g.Outcomes[string(o)].Devices
				if n == 0 {
					continue
				}
				w := float64(n) / float64(maxSum) * chartBarW
				b.Segs = append(b.Segs, barSeg{X: x, W: w, Color: outcomeColors[o], Outcome: string(o), Devices: n})
				x += w
			}
			si.Bars = append(si.Bars, b)
		}
		si.Height = max(1, len(si.Bars)) * chartRowH
		p.Imps = append(p.Imps, si)
	}
	return p
}

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"pct":     func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"devices": func(c Counts, o report.Outcome) int { return c.Outcomes[string(o)].Devices },
	"add":     func(a, b int) int { return a + b },
	"f":       func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bsi fleet status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
.legend span{display:inline-block;margin-right:1em}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
.bad{color:#dc2626;font-weight:bold}
svg text{font:12px system-ui,sans-serif}
</style></head>
<body>
<h1>bsi fleet status</h1>
<p>Devices by outcome and failure rate for each improvement, by rollout stage.
Failure rate = devices that reported health-failed or rolled-back / devices that
attempted the install. Reports only inform a halt; they never widen a rollout.</p>
<p class="legend">{{range .Outcomes}}<span><i style="background:{{index $.Colors .}}"></i>{{.}}</span>{{end}}</p>
{{if not .Imps}}<p id="empty">No reports yet.</p>{{end}}
{{range .Imps}}{{$id := printf "%s/%s" .Component .Improvement}}
<section class="improvement" data-improvement="{{$id}}">
<h2>{{.Component}} / {{.Improvement}}</h2>
<table>
<tr><th>devices</th><th>attempted</th><th>failed</th><th>failure rate</th>{{range $.Outcomes}}<th>{{.}}</th>{{end}}</tr>
<tr><td data-stat="{{$id}}/devices">{{.Devices}}</td><td data-stat="{{$id}}/attempted">{{.AttemptedDevices}}</td><td data-stat="{{$id}}/failed">{{.FailedDevices}}</td><td data-stat="{{$id}}/failure_rate"{{if gt .FailedDevices 0}} class="bad"{{end}}>{{pct .FailureRate}}</td>{{$c := .Counts}}{{range $.Outcomes}}<td data-stat="{{$id}}/outcome/{{.}}">{{devices $c .}}</td>{{end}}</tr>
</table>
<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{{add 700 0}}" height="{{.Height}}" role="img" aria-label="devices by outcome and stage for {{$id}}">
{{range .Bars}}<g data-stage="{{.Group.Key}}"><text x="0" y="{{add .Y 17}}">{{.Label}}</text>{{$y := .Y}}{{range .Segs}}<rect x="{{f .X}}" y="{{add $y 4}}" width="{{f .W}}" height="18" fill="{{.Color}}"><title>{{.Outcome}}: {{.Devices}} devices</title></rect>{{end}}<text x="620" y="{{add .Y 17}}" data-stat="{{$id}}/stage/{{.Group.Key}}/failure_rate">{{pct .Group.FailureRate}}</text></g>
{{end}}</svg>
<table>
<tr><th>stage</th><th>devices</th><th>failed</th><th>failure rate</th></tr>
{{range .ByStage}}<tr><td>{{.Key}}</td><td data-stat="{{$id}}/stage/{{.Key}}/devices">{{.Devices}}</td><td data-stat="{{$id}}/stage/{{.Key}}/failed">{{.FailedDevices}}</td><td>{{pct .FailureRate}}</td></tr>
{{end}}</table>
</section>
{{end}}
</body></html>
`))

func (c *Collector) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := c.allStats(r.Context())
	if err != nil {
		c.logFailure(r, "fleet: status page", err)
		http.Error(w, "statistics unavailable", http.StatusServiceUnavailable)
		return
	}
	var buf bytes.Buffer
	if err := statusTmpl.Execute(&buf, buildStatus(st)); err != nil {
		c.log.Error("fleet: status page", "err", err)
		http.Error(w, "status page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.Write(buf.Bytes())
}
