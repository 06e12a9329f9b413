// Command devkafka runs a Kafka-protocol broker (franz-go's kfake) in its own
// process, for demos and benchmarks on a machine without Kafka. It is not a
// production broker: point production gateways at a real Kafka cluster.
//
//	devkafka -listen 127.0.0.1:9092 -partitions 6 -data /tmp/devkafka
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() { os.Exit(run()) }

func run() int {
	listen := flag.String("listen", "127.0.0.1:9092", "address of the first broker (the others take the next ports)")
	brokers := flag.Int("brokers", 1, "number of brokers")
	parts := flag.Int("partitions", 6, "partitions of auto-created topics")
	data := flag.String("data", "", "directory to keep the log in (default: a temporary directory, removed at exit)")
	debugAddr := flag.String("debug-listen", "", "serve Go's pprof profiles on this address")
	flag.Parse()
	host, p, err := net.SplitHostPort(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devkafka: -listen:", err)
		return 2
	}
	port, _ := strconv.Atoi(p)
	ports := make([]int, *brokers)
	for i := range ports {
		ports[i] = port + i
	}
	// kfake's memory-only mode rewrites a growing in-memory file on every
	// produce (CPU rising with the data held); on disk it appends.
	if *data == "" {
		dir, err := os.MkdirTemp("", "devkafka-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "devkafka:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		*data = dir
	}
	opts := []kfake.Opt{kfake.NumBrokers(*brokers), kfake.Ports(ports...), kfake.DefaultNumPartitions(*parts),
		kfake.AllowAutoTopicCreation(), kfake.DataDir(*data)}
	if host != "127.0.0.1" && host != "localhost" {
		fmt.Fprintln(os.Stderr, "devkafka: listens on 127.0.0.1 only")
	}
	if *debugAddr != "" {
		go http.ListenAndServe(*debugAddr, nil)
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devkafka:", err)
		return 1
	}
	fmt.Println("devkafka: brokers at", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
	return 0
}
