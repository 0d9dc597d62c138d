package conformance

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// The HTML reports are single self-contained files for people: inline
// styles, inline SVG, no script, no font or image from anywhere. Every
// string that came from a repository or a client (role names, key ids,
// messages, command lines) goes through html/template's escaping.

const htmlStyle = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#5a6275;margin-bottom:12px}
table{border-collapse:collapse;margin:4px 0}
th,td{border:1px solid #d6dae3;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f7}td.num{text-align:right}
.keys{font-family:ui-monospace,monospace;font-size:12px}
.sev-security,.st-fail,.st-xpass{background:#fbe3e3}
.sev-freshness{background:#fdf0d5}.sev-error{background:#fde8d7}.sev-warning{background:#fffbe0}
.st-pass{background:#e3f5e6}.st-xfail{background:#eef0f4}.st-skip{color:#8a90a0}
.no{color:#b3261e;font-weight:600}.yes{color:#1e7a34}
.counts span{display:inline-block;margin-right:14px}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;background:#f6f7f9;padding:6px;margin:4px 0}
`

var auditHTML = template.Must(template.New("audit").Funcs(template.FuncMap{
	"left":  FormatLeft,
	"short": func(s string) string { return s[:min(len(s), 12)] },
	"rfc":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>bsi audit: {{.R.URL}}</title>
<style>{{.Style}}</style></head>
<body>
<h1>bsi audit</h1>
<div class="meta">{{.R.URL}} as of {{rfc .R.Time}} · schema {{.R.Schema}}</div>
<div class="counts">
<span>roles <b id="n-roles">{{len .R.Roles}}</b></span>
<span>targets <b id="n-targets">{{.R.Targets}}</b></span>
<span>payloads checked <b id="n-payloads">{{.R.Payloads}}</b></span>
<span>findings <b id="n-findings">{{len .R.Findings}}</b></span>
{{range .Sev}}<span class="sev-{{.Name}}">{{.Name}} <b id="n-{{.Name}}">{{len .Findings}}</b></span>
{{end}}</div>

<h2>Roles</h2>
<table id="roles">
<tr><th>role</th><th>version</th><th>delegated by</th><th>keys</th><th>threshold</th><th>signatures</th><th>verified</th><th>expires</th><th>left</th><th>refresh interval</th><th>budget</th><th>targets</th></tr>
{{range .R.Roles}}<tr class="role">
<td>{{.Role}}</td><td class="num">{{.Version}}</td><td>{{if .Delegator}}{{.Delegator}}{{else}}root{{end}}</td>
<td class="keys">{{range $i, $k := .Keys}}{{if $i}}, {{end}}{{short $k}}{{end}}</td>
<td class="num">{{.Threshold}}</td><td class="num">{{.Signatures}}</td>
<td>{{if .Verified}}<span class="yes">yes</span>{{else}}<span class="no">no</span>{{end}}</td>
<td>{{rfc .Expires}}</td><td class="num">{{left .Left}}</td><td class="num">{{left .Interval}}</td>
<td class="{{if eq .Budget "expired"}}sev-freshness{{else if eq .Budget "warn"}}sev-warning{{end}}">{{.Budget}}</td>
<td class="num">{{.Targets}}</td></tr>
{{end}}</table>

<h2>Expiry timeline</h2>
<p class="meta">Each bar runs from the audit time to the role's expiry; the amber part is the last two refresh intervals before it (the window in which the role must be re-signed), red is past expiry.</p>
{{.Timeline}}

<h2>Findings</h2>
{{if not .R.Findings}}<p>No findings.</p>{{end}}
{{range .Sev}}{{if .Findings}}<h3 class="sev-{{.Name}}">{{.Name}} ({{len .Findings}})</h3>
<table><tr><th>check</th><th>role</th><th>message</th></tr>
{{range .Findings}}<tr class="finding sev-{{.Severity}}"><td>{{.Check}}</td><td>{{.Role}}</td><td>{{.Message}}</td></tr>
{{end}}</table>{{end}}{{end}}
</body></html>
`))

type sevGroup struct {
	Name     string
	Findings []Finding
}

// WriteHTML writes the report as one self-contained HTML page: every
// role with its version, keys, threshold and signatures, an expiry
// timeline (inline SVG) against each role's refresh window, and the
// findings by severity.
func (r *AuditReport) WriteHTML(w io.Writer) error {
	var sev []sevGroup
	for _, s := range []string{SevSecurity, SevFreshness, SevError, SevWarning} {
		g := sevGroup{Name: s}
		for _, f := range r.Findings {
			if f.Severity == s {
				g.Findings = append(g.Findings, f)
			}
		}
		sev = append(sev, g)
	}
	return auditHTML.Execute(w, map[string]any{
		"R": r, "Sev": sev, "Style": template.CSS(htmlStyle), "Timeline": r.timeline(),
	})
}

// timeline draws each role's time left as a bar on one time axis from
// the audit time to the latest expiry. Only numbers computed here and
// escaped role names go into the SVG.
func (r *AuditReport) timeline() template.HTML {
	const labelW, barW, rowH, top = 170.0, 640.0, 24.0, 26.0
	span := time.Duration(0)
	for _, ra := range r.Roles {
		span = max(span, ra.Left)
	}
	if span <= 0 {
		span = 24 * time.Hour
	}
	x := func(d time.Duration) float64 {
		f := float64(d) / float64(span)
		return labelW + barW*min(max(f, 0), 1)
	}
	h := top + rowH*float64(len(r.Roles)) + 10
	b := fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="%.0f" height="%.0f" role="img" aria-label="expiry timeline">`, labelW+barW+90, h)
	b = fmt.Appendf(b, `<line x1="%.1f" y1="8" x2="%.1f" y2="%.0f" stroke="#1d2330"/><text x="%.1f" y="18" font-size="11" fill="#1d2330">now</text>`,
		labelW, labelW, h, labelW+3)
	b = fmt.Appendf(b, `<text x="%.1f" y="18" font-size="11" text-anchor="end" fill="#5a6275">+%s</text>`, labelW+barW, template.HTMLEscapeString(FormatLeft(span)))
	for i, ra := range r.Roles {
		y := top + rowH*float64(i)
		b = fmt.Appendf(b, `<text x="%.1f" y="%.1f" font-size="12" text-anchor="end" fill="#1d2330">%s v%d</text>`,
			labelW-6, y+14, template.HTMLEscapeString(ra.Role), ra.Version)
		if ra.Left <= 0 {
			b = fmt.Appendf(b, `<rect class="bar expired" x="%.1f" y="%.1f" width="8" height="16" fill="#c62828"/>`, labelW, y+2)
		} else {
			window := min(2*ra.Interval, ra.Left)
			safe := ra.Left - window
			b = fmt.Appendf(b, `<rect class="bar ok" x="%.1f" y="%.1f" width="%.1f" height="16" fill="#2e7d32"/>`, labelW, y+2, x(safe)-labelW)
			b = fmt.Appendf(b, `<rect class="bar window" x="%.1f" y="%.1f" width="%.1f" height="16" fill="#f0a020"/>`, x(safe), y+2, max(x(ra.Left)-x(safe), 2))
		}
		b = fmt.Appendf(b, `<text x="%.1f" y="%.1f" font-size="11" fill="#5a6275">%s</text>`, x(max(ra.Left, 0))+6+boolF(ra.Left <= 0, 8), y+14,
			template.HTMLEscapeString(FormatLeft(ra.Left)))
	}
	b = append(b, "</svg>"...)
	return template.HTML(b)
}

func boolF(b bool, v float64) float64 {
	if b {
		return v
	}
	return 0
}
