package report

import (
	"cmp"
	_ "embed"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":    num,
	"plural": plural,
	"client": clientName,
	"join":   strings.Join,
}).Parse(htmlSource))

// The colours of the outcomes, shared by every chart and the legend.
var outcomeColours = []struct{ Name, Colour string }{
	{"rewritten", "#2b7bb9"}, {"unchanged", "#9aa5b1"}, {"audited", "#e0a526"}, {"rejected", "#c8382c"},
}

type htmlView struct {
	*Report
	Legend                                    []struct{ Name, Colour string }
	TimelineChart, ClientsChart, ReasonsChart svgChart
}

// namedChart is a chart with its element ID and accessible label.
type namedChart struct {
	svgChart
	ID, Label string
}

// WithID names a chart for the template.
func (c svgChart) WithID(id, label string) namedChart { return namedChart{c, id, label} }

// svgChart is a chart laid out in Go: the page needs no script to draw it.
type svgChart struct {
	Width, Height float64
	Rects         []svgRect
	Texts         []svgText
	Lines         []svgLine
	Empty         bool
}

type svgRect struct {
	X, Y, W, H float64
	Fill       string
	Title      string
}

type svgText struct {
	X, Y   float64
	Anchor string
	Text   string
	Class  string
}

type svgLine struct{ X1, Y1, X2, Y2 float64 }

func writeHTML(w io.Writer, r *Report) error {
	v := htmlView{Report: r, Legend: outcomeColours}
	v.TimelineChart = timelineChart(r)
	v.ClientsChart = clientsChart(r)
	v.ReasonsChart = reasonsChart(r)
	return htmlTemplate.Execute(w, v)
}

// timelineChart stacks each bucket's outcomes.
func timelineChart(r *Report) svgChart {
	const left, right, top, bottom = 56.0, 12.0, 12.0, 44.0
	c := svgChart{Width: 960, Height: 280}
	pts := r.Timeline.Points
	plotW, plotH := c.Width-left-right, c.Height-top-bottom
	var most int64
	for _, p := range pts {
		if p.Requests > most {
			most = p.Requests
		}
	}
	c.Lines = append(c.Lines, svgLine{left, top + plotH, left + plotW, top + plotH}, svgLine{left, top, left, top + plotH})
	if len(pts) == 0 || most == 0 {
		c.Empty = true
		c.Texts = append(c.Texts, svgText{left + plotW/2, top + plotH/2, "middle", "no records", "muted"})
		return c
	}
	for _, f := range []float64{0, 0.5, 1} {
		y := top + plotH - f*plotH
		c.Texts = append(c.Texts, svgText{left - 6, y + 4, "end", num(int64(f * float64(most))), "axis"})
	}
	// The x axis is time: a bucket without records is a gap, not hidden.
	bucket := time.Hour
	if r.Timeline.Bucket == "day" {
		bucket = 24 * time.Hour
	}
	t0, _ := time.Parse(time.RFC3339, pts[0].Start)
	tn, _ := time.Parse(time.RFC3339, pts[len(pts)-1].Start)
	slots := float64(tn.Sub(t0)/bucket) + 1
	step := plotW / slots
	labelEvery := max(1, slots/8)
	nextLabel := 0.0
	for _, p := range pts {
		t, _ := time.Parse(time.RFC3339, p.Start)
		slot := float64(t.Sub(t0) / bucket)
		x := left + slot*step + step*0.1
		y := top + plotH
		for _, o := range outcomeColours {
			n := outcomeCount(&p.Counts, o.Name)
			if n == 0 {
				continue
			}
			h := float64(n) / float64(most) * plotH
			y -= h
			c.Rects = append(c.Rects, svgRect{x, y, max(step*0.8, 1), h, o.Colour, p.Start + ": " + num(n) + " " + o.Name})
		}
		if slot >= nextLabel {
			nextLabel = slot + labelEvery
			label := p.Start
			if r.Timeline.Bucket == "day" {
				label = label[:10]
			} else {
				label = label[5:10] + " " + label[11:16]
			}
			c.Texts = append(c.Texts, svgText{x + step*0.4, top + plotH + 18, "middle", label, "axis"})
		}
	}
	return c
}

func outcomeCount(c *Counts, name string) int64 {
	switch name {
	case "rewritten":
		return c.Rewritten
	case "unchanged":
		return c.Unchanged
	case "audited":
		return c.Audited
	case "rejected":
		return c.Rejected
	}
	return 0
}

// maxBars is how many clients and reasons the bar charts show; the tables
// below them list all.
const maxBars = 12

// clientsChart shows the clients with the most requests enforce would
// reject: each bar is the client's requests, its red part those enforce
// would reject.
func clientsChart(r *Report) svgChart {
	const left, right, row = 260.0, 90.0, 26.0
	var rows []*Client
	for i := range r.Clients {
		if r.Clients[i].WouldReject > 0 && len(rows) < maxBars {
			rows = append(rows, &r.Clients[i])
		}
	}
	c := svgChart{Width: 960, Height: 24 + row*float64(max(len(rows), 1))}
	if len(rows) == 0 {
		c.Empty = true
		c.Texts = append(c.Texts, svgText{c.Width / 2, 30, "middle", "enforce would reject no request", "muted"})
		return c
	}
	var most int64
	for _, cl := range rows {
		most = max(most, cl.Requests)
	}
	plotW := c.Width - left - right
	for i, cl := range rows {
		y := 12 + float64(i)*row
		name := clientName(cl)
		c.Texts = append(c.Texts, svgText{left - 8, y + 15, "end", shorten(name, 34), "label"})
		c.Rects = append(c.Rects, svgRect{left, y + 3, float64(cl.Requests) / float64(most) * plotW, row - 8, "#d5dbe1", name + ": " + num(cl.Requests) + " requests"})
		c.Rects = append(c.Rects, svgRect{left, y + 3, float64(cl.WouldReject) / float64(most) * plotW, row - 8, "#c8382c", name + ": enforce would reject " + num(cl.WouldReject)})
		c.Texts = append(c.Texts, svgText{left + float64(cl.Requests)/float64(most)*plotW + 6, y + 15, "start", num(cl.WouldReject) + " / " + num(cl.Requests), "value"})
	}
	return c
}

var categoryColours = map[string]string{"problem": "#c8382c", "kept": "#5a9e4b", "change": "#2b7bb9"}

// reasonsChart shows the most frequent field and reason pairs of
// problems and kept values.
func reasonsChart(r *Report) svgChart {
	const left, right, row = 330.0, 70.0, 24.0
	var rows []*Field
	for i := range r.Fields {
		if f := &r.Fields[i]; f.Category != "change" {
			rows = append(rows, f)
		}
	}
	slices.SortStableFunc(rows, func(a, b *Field) int { return cmp.Compare(b.Count, a.Count) })
	if len(rows) > maxBars {
		rows = rows[:maxBars]
	}
	c := svgChart{Width: 960, Height: 24 + row*float64(max(len(rows), 1))}
	if len(rows) == 0 {
		c.Empty = true
		c.Texts = append(c.Texts, svgText{c.Width / 2, 30, "middle", "no problems and no kept values", "muted"})
		return c
	}
	most := rows[0].Count
	plotW := c.Width - left - right
	for i, f := range rows {
		y := 12 + float64(i)*row
		label := f.Field + " · " + f.Reason
		c.Texts = append(c.Texts, svgText{left - 8, y + 14, "end", shorten(label, 44), "label"})
		w := float64(f.Count) / float64(most) * plotW
		c.Rects = append(c.Rects, svgRect{left, y + 3, w, row - 8, categoryColours[f.Category], f.Category + " " + label + ": " + num(f.Count)})
		c.Texts = append(c.Texts, svgText{left + w + 6, y + 14, "start", num(f.Count), "value"})
	}
	return c
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
