package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/auth"
	"github.com/minsheng/minsheng/connectors/importfile"
	"github.com/minsheng/minsheng/gateway"
)

func init() {
	register(&command{name: "import", summary: "import a CSV or XLSX export (hotline work orders, board posts) through the gateway", run: runImport})
}

// columnFlags collects repeated --column field=HEADER flags.
type columnFlags map[importfile.Field]string

func (c columnFlags) String() string { return fmt.Sprint(map[importfile.Field]string(c)) }
func (c columnFlags) Set(v string) error {
	f, h, ok := strings.Cut(v, "=")
	if !ok || f == "" {
		return fmt.Errorf("want field=HEADER, got %q", v)
	}
	c[importfile.Field(strings.TrimSpace(f))] = strings.TrimSpace(h)
	return nil
}

func runImport(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, `usage: minsheng import --channel CHANNEL [flags] FILE.csv|FILE.tsv|FILE.xlsx

Pushes every row through the gateway (triage, routing, queues or Kafka) as
'run' would. Rows imported before (same channel, source and reference) are
counted as duplicates, so an interrupted import is resumed by running it
again. The last line printed is "imported=N duplicates=N rejected=N".

Columns are found by header (留言编号/留言主题/留言详情/留言时间/留言用户,
工单编号/来电人/联系电话/来电时间/诉求内容/诉求地址, ...); --column maps others.
Fields: %s

flags:
`, strings.Join(fieldNames(), ", "))
		fs.PrintDefaults()
	}
	var gf gatewayFlags
	gf.register(fs)
	channel := fs.String("channel", "", "channel the rows came in on: "+channelList())
	source := fs.String("source", importfile.DefaultSource, "source name in item IDs; use one name per exporting system so overlapping exports are recognised")
	cols := columnFlags{}
	fs.Var(cols, "column", "field=HEADER: read field from the column with that header (repeatable; HEADER '-' unmaps)")
	sheet := fs.String("sheet", "", "XLSX sheet (default: the active sheet)")
	layout := fs.String("time-layout", "", "Go time layout of the time column (default: the common forms)")
	tz := fs.String("tz", "Asia/Shanghai", "time zone of times written without one")
	rejects := fs.String("rejects", "", "file for rejected rows and reasons (default FILE's name + .rejected.csv in the current directory)")
	progress := fs.String("progress", "auto", "progress display: auto (bar on a terminal, lines otherwise), bar, lines, none")
	every := fs.Duration("progress-every", 5*time.Second, "interval of plain progress lines")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitConfig
	}
	if *every <= 0 {
		fmt.Fprintf(os.Stderr, "import: --progress-every %s: must be more than 0\n", *every)
		return exitConfig
	}
	ch := minsheng.Channel(*channel)
	if !ch.Valid() {
		fmt.Fprintf(os.Stderr, "import: --channel %q is not a channel (%s)\n", *channel, channelList())
		return exitConfig
	}
	c, err := gf.load()
	if err != nil {
		return configError(err)
	}
	opts := importfile.Options{Channel: ch, Source: *source, Columns: cols, Sheet: *sheet, TimeLayout: *layout,
		TimeZone: *tz, RejectsPath: *rejects, ProgressEvery: *every}
	switch *progress {
	case "auto":
		opts.Progress, opts.Terminal = os.Stderr, importfile.IsTerminal(os.Stderr)
	case "bar":
		opts.Progress, opts.Terminal = os.Stderr, true
	case "lines":
		opts.Progress = os.Stderr
	case "none":
	default:
		fmt.Fprintf(os.Stderr, "import: --progress %q: want auto, bar, lines or none\n", *progress)
		return exitConfig
	}
	log := gateway.NewLogger(c, os.Stderr)
	opts.Logger = log
	// Items are identified by channel, source and reference: under a desk's
	// name, an imported row would share its ID with the desk's own letter
	// of the same reference, and one of the two would be taken for a
	// repeat of the other. Checked before the gateway opens its store.
	desks, err := auth.ReadDesksFile(filepath.Join(c.Data, "desks.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "import:", err)
		return exitFail
	}
	for _, d := range append(desks, c.Desks...) {
		if d.Name == *source {
			fmt.Fprintf(os.Stderr, "import: --source %q is the name of a desk; give the export a source name of its own\n", *source)
			return exitConfig
		}
	}
	g, err := gateway.Open(ctx, c, log)
	if err != nil {
		log.Error("cannot open the gateway", "err", err)
		return exitFail
	}
	sum, err := importfile.Run(ctx, fs.Arg(0), g.Emitter(), opts)
	// Drain what is still in flight, flush the sinks, close the store.
	stopCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	if serr := g.Pipeline().Stop(stopCtx); serr != nil {
		log.Error("drain", "err", serr)
	}
	cancel()
	g.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "import:", err)
		return exitFail
	}
	sum.Write(os.Stdout)
	if !sum.Complete() {
		return exitFail
	}
	return exitOK
}

func fieldNames() []string {
	var out []string
	for _, f := range importfile.Fields {
		out = append(out, string(f))
	}
	return out
}
