// Command host loads a Yandex Cloud Function built as a Go plugin and calls
// it the way the golang123 runtime does: it looks up the exported Handler,
// decodes each event JSON into the handler's request type with
// encoding/json, calls it, and encodes the response with encoding/json.
//
// It serves POST /invoke (body: one API Gateway event; answer: the
// function's response JSON) and prints "ready <addr> <load-ms>" once the
// plugin is loaded and listening.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"plugin"
	"reflect"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: host function.so")
		os.Exit(2)
	}
	start := time.Now()
	p, err := plugin.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "host: open plugin:", err)
		os.Exit(1)
	}
	sym, err := p.Lookup("Handler")
	if err != nil {
		fmt.Fprintln(os.Stderr, "host: lookup Handler:", err)
		os.Exit(1)
	}
	fn := reflect.ValueOf(sym)
	t := fn.Type()
	if t.Kind() != reflect.Func || t.NumIn() != 2 || t.NumOut() != 2 {
		fmt.Fprintf(os.Stderr, "host: Handler has type %s, want func(context.Context, *Request) (*Response, error)\n", t)
		os.Exit(1)
	}
	loaded := time.Since(start)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		os.Exit(1)
	}
	http.HandleFunc("/invoke", func(w http.ResponseWriter, r *http.Request) {
		event, _ := io.ReadAll(r.Body)
		arg := reflect.New(t.In(1).Elem())
		if err := json.Unmarshal(event, arg.Interface()); err != nil {
			http.Error(w, "event does not decode: "+err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out := fn.Call([]reflect.Value{reflect.ValueOf(ctx), arg})
		if e := out[1]; !e.IsNil() {
			http.Error(w, "function error: "+e.Interface().(error).Error(), http.StatusBadGateway)
			return
		}
		resp, err := json.Marshal(out[0].Interface())
		if err != nil {
			http.Error(w, "response does not encode: "+err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(resp)
	})
	fmt.Printf("ready %s %.3f\n", ln.Addr(), float64(loaded.Microseconds())/1000)
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		os.Exit(1)
	}
}
