// Porcupine side of scripts/bench-linearizability: checks the same JSON-lines histories
// as our bench with porcupine's CheckOperationsTimeout and prints one JSON line per file
// (verdict, median wall ns). The models follow porcupine's own test models (etcd register,
// kv partitioned by key, kv without partitioning); an "unknown" output accepts any value.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

type line struct {
	Client  int             `json:"client"`
	Call    int64           `json:"call"`
	Ret     *int64          `json:"ret"`
	F       string          `json:"f"`
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	To      int             `json:"to"`
	Out     json.RawMessage `json:"out"`
	Unknown bool            `json:"unknown"`
}

type regIn struct{ op, a, b int }
type regOut struct {
	ok, exists, unknown bool
	value               int
}
type kvIn struct {
	op         int
	key, value string
}
type kvOut struct {
	value   string
	unknown bool
}

const nilValue = -1000000

var register = porcupine.Model{
	Init: func() interface{} { return nilValue },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in, out := state.(int), input.(regIn), output.(regOut)
		switch in.op {
		case 0:
			return out.unknown || (!out.exists && st == nilValue) || (out.exists && st == out.value), st
		case 1:
			return true, in.a
		default:
			next := st
			if in.a == st {
				next = in.b
			}
			return out.unknown || (in.a == st) == out.ok, next
		}
	},
}

func kvStep(cur string, in kvIn, out kvOut) (bool, string) {
	switch in.op {
	case 0:
		return out.unknown || out.value == cur, cur
	case 1:
		return true, in.value
	default:
		return true, cur + in.value
	}
}

var kv = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		m := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(kvIn).key
			m[k] = append(m[k], op)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, m[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		return kvStep(state.(string), input.(kvIn), output.(kvOut))
	},
	Hash: func(state interface{}) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
}

var kvStore = porcupine.Model{
	Init: func() interface{} { return map[string]string{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in := state.(map[string]string), input.(kvIn)
		ok, v := kvStep(st[in.key], in, output.(kvOut))
		if !ok || in.op == 0 {
			return ok, st
		}
		next := make(map[string]string, len(st)+1)
		for k, x := range st {
			next[k] = x
		}
		next[in.key] = v
		return true, next
	},
	Equal: func(a, b interface{}) bool {
		x, y := a.(map[string]string), b.(map[string]string)
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || w != v {
				return false
			}
		}
		return true
	},
	Hash: func(state interface{}) uint64 {
		var h uint64
		for k, v := range state.(map[string]string) {
			f := fnv.New64a()
			f.Write([]byte(k))
			f.Write([]byte{0})
			f.Write([]byte(v))
			h ^= f.Sum64()
		}
		return h
	},
}

func load(path, model string) []porcupine.Operation {
	fh, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer fh.Close()
	var ops []porcupine.Operation
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			panic(err)
		}
		ret := int64(math.MaxInt64)
		if l.Ret != nil {
			ret = *l.Ret
		}
		op := porcupine.Operation{ClientId: l.Client, Call: l.Call, Return: ret}
		if model == "register" {
			in, out := regIn{}, regOut{unknown: l.Unknown}
			switch l.F {
			case "read":
				var v *int
				json.Unmarshal(l.Out, &v)
				if v != nil {
					out.exists, out.value = true, *v
				}
			case "write":
				in.op = 1
				json.Unmarshal(l.Value, &in.a)
			case "cas":
				in.op, in.b = 2, l.To
				json.Unmarshal(l.Value, &in.a)
				json.Unmarshal(l.Out, &out.ok)
			}
			op.Input, op.Output = in, out
		} else {
			in, out := kvIn{key: l.Key}, kvOut{unknown: l.Unknown}
			switch l.F {
			case "put":
				in.op = 1
			case "append":
				in.op = 2
			}
			if in.op != 0 {
				json.Unmarshal(l.Value, &in.value)
			} else {
				json.Unmarshal(l.Out, &out.value)
			}
			op.Input, op.Output = in, out
		}
		ops = append(ops, op)
	}
	return ops
}

func main() {
	model := flag.String("model", "register", "register|kv|kv-store")
	runs := flag.Int("runs", 15, "max runs per file")
	timeout := flag.Float64("timeout-s", 0, "per-check timeout (0: none)")
	flag.Parse()
	m := map[string]porcupine.Model{"register": register, "kv": kv, "kv-store": kvStore}[*model]
	for _, path := range flag.Args() {
		ops := load(path, *model)
		var ns []int64
		verdict := ""
		start := time.Now()
		for i := 0; i < *runs; i++ {
			t := time.Now()
			res := porcupine.CheckOperationsTimeout(m, ops, time.Duration(*timeout*float64(time.Second)))
			ns = append(ns, time.Since(t).Nanoseconds())
			verdict = map[porcupine.CheckResult]string{porcupine.Ok: "ok", porcupine.Illegal: "illegal", porcupine.Unknown: "unknown"}[res]
			if spent := time.Since(start); (i >= 2 && spent > 2*time.Second) || spent > 5*time.Second {
				break
			}
		}
		sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
		b, _ := json.Marshal(map[string]interface{}{"file": path, "verdict": verdict, "ns": ns[len(ns)/2]})
		fmt.Println(string(b))
	}
}
