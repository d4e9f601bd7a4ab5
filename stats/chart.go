package stats

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/photobot/photobot/pipeline"
)

// The chart's size in pixels: Telegram shows a photo of this shape whole.
const (
	ChartWidth  = 1200
	ChartHeight = 900
	chartDPI    = 96
)

// stacks are the chart's bands, bottom up: the outcomes each sums.
var stacks = []struct {
	name     string
	color    color.RGBA
	outcomes []string
}{
	{"delivered", color.RGBA{0x2e, 0x9d, 0x4a, 0xff}, []string{pipeline.Delivered}},
	{"failed", color.RGBA{0xd6, 0x3b, 0x30, 0xff}, []string{pipeline.FailedMemory, pipeline.FailedInput,
		pipeline.FailedTimeout, pipeline.FailedModel, pipeline.FailedEmpty, pipeline.Expired, pipeline.Undelivered}},
	{"canceled", color.RGBA{0x8e, 0x8e, 0x93, 0xff}, []string{pipeline.CanceledByUser}},
	{"refused / unavailable", color.RGBA{0xf2, 0x9b, 0x1d, 0xff}, []string{pipeline.RefusedLimit,
		pipeline.RefusedAccess, pipeline.Unavailable}},
}

// Chart draws r's days: photos per day stacked by outcome above, the
// estimated spend per day below; a PNG of ChartWidth x ChartHeight.
func (l *Ledger) Chart(r *pipeline.Report) ([]byte, error) {
	if len(r.Days) == 0 {
		return nil, fmt.Errorf("stats: no day to draw")
	}
	photos, err := photosPlot(r.Days)
	if err != nil {
		return nil, err
	}
	spend, err := spendPlot(r.Days)
	if err != nil {
		return nil, err
	}
	inch := func(px int) vg.Length { return vg.Length(px) * vg.Inch / chartDPI }
	img := vgimg.NewWith(vgimg.UseWH(inch(ChartWidth), inch(ChartHeight)), vgimg.UseDPI(chartDPI))
	pad := inch(16)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad, PadY: 2 * pad}
	// Aligned, so that a day's bars stand one above the other.
	canvases := plot.Align([][]*plot.Plot{{photos}, {spend}}, tiles, draw.New(img))
	photos.Draw(canvases[0][0])
	spend.Draw(canvases[1][0])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("stats: encoding the chart: %w", err)
	}
	return buf.Bytes(), nil
}

func photosPlot(days []pipeline.Day) (*plot.Plot, error) {
	p := newPlot(days, "Photos per day (UTC), by outcome", "photos")
	w := barWidth(len(days))
	var below *plotter.BarChart
	highest := 0.0
	for _, s := range stacks {
		v := make(plotter.Values, len(days))
		for i, d := range days {
			for _, o := range s.outcomes {
				v[i] += float64(d.Outcomes[o])
			}
		}
		b, err := plotter.NewBarChart(v, w)
		if err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
		b.Color, b.LineStyle.Width = s.color, 0
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(s.name, b)
		for i := range v {
			highest = max(highest, b.BarHeight(i))
		}
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	p.Y.Max = max(highest*1.3, 4) // room for the legend above the bars
	fit(p, len(days))
	return p, nil
}

func spendPlot(days []pipeline.Day) (*plot.Plot, error) {
	p := newPlot(days, "Estimated Replicate spend per day", "USD")
	v := make(plotter.Values, len(days))
	highest := 0.0
	for i, d := range days {
		v[i] = d.Spend
		highest = max(highest, d.Spend)
	}
	p.Y.Max = highest * 1.15
	if highest == 0 {
		p.Y.Max = 0.01 // an empty month still gets an axis
	}
	b, err := plotter.NewBarChart(v, barWidth(len(days)))
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	b.Color, b.LineStyle.Width = color.RGBA{0x2f, 0x6f, 0xd6, 0xff}, 0
	p.Add(b)
	fit(p, len(days))
	return p, nil
}

// fit shows every bar whole, the first and last included.
func fit(p *plot.Plot, n int) {
	p.X.Min, p.X.Max = -0.7, float64(n)-0.3
}

// newPlot is a plot over days, labelled every few days.
func newPlot(days []pipeline.Day, title, unit string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = title, unit
	p.Title.TextStyle.Font.Size = vg.Points(14)
	names := make([]string, len(days))
	every := int(math.Ceil(float64(len(days)) / 10))
	for i, d := range days {
		if (len(days)-1-i)%every == 0 {
			names[i] = d.Date.Format("01-02")
		}
	}
	p.NominalX(names...)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p
}

func barWidth(n int) vg.Length {
	return vg.Length(ChartWidth) * vg.Inch / chartDPI * 0.8 / vg.Length(n+2)
}
