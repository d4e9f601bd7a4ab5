package pipeline

import (
	"strconv"
	"strings"
)

// What a button of the bot says when pressed: Telegram gives its data back
// in the press (at most 64 bytes). Every producer and consumer of button
// data goes through this codec, so the wire format lives here alone:
//
//	e:<effect>    an effect of a menu
//	a:<effect>    Again, under a result
//	a:<effect>:<prediction>  Again of a prompted result: its prompt is
//	              kept under the prediction's id (prompts.go)
//	p:<effect>    Another prompt: ask for a new one (prompts.go)
//	m             the menu again
//	x:<e|a>_<effect>  Cancel of the prediction that button of the same
//	              message started (found by its claim)
//	x:r_<effect>_<message>  Cancel of the prediction the user's reply
//	              <message> (a prompt) started
//	b:<stars>     a pack of Stars: an invoice for it
type action byte

const (
	actChoose action = 'e'
	actAgain  action = 'a'
	actPrompt action = 'p'
	actMenu   action = 'm'
	actCancel action = 'x'
	// actReply is no button: a prompt replied to the bot's question. It
	// names the prediction a reply started, for its Cancel.
	actReply action = 'r'
	actBuy   action = 'b'
)

// button is a button's data, parsed.
type button struct {
	act    action
	effect string // the effect of choose, again and prompt; of the started button, for cancel
	of     action // cancel: the action of the button whose prediction it stops
	ref    string // again: the prediction whose prompt it repeats ("" for none)
	reply  int    // cancel of a reply: the user's reply that started it
	stars  int    // buy: the pack
}

func (d button) String() string {
	switch {
	case d.act == actMenu:
		return "m"
	case d.act == actCancel && d.of == actReply:
		return "x:r_" + d.effect + "_" + strconv.Itoa(d.reply)
	case d.act == actCancel:
		return "x:" + string(d.of) + "_" + d.effect
	case d.act == actAgain && d.ref != "":
		return "a:" + d.effect + ":" + d.ref
	case d.act == actBuy:
		return "b:" + strconv.Itoa(d.stars)
	}
	return string(d.act) + ":" + d.effect
}

// choice names the button that started a prediction in its claim's key
// ("e_upscale"): one prediction per button of a message.
func (d button) choice() string { return string(d.act) + "_" + d.effect }

// parseButton reads a press's data; ok is false for data the bot never
// sends (a forged press, or one of an older version's buttons).
func parseButton(s string) (d button, ok bool) {
	if s == "m" {
		return button{act: actMenu}, true
	}
	kind, arg, found := strings.Cut(s, ":")
	if !found || len(kind) != 1 {
		return button{}, false
	}
	switch a := action(kind[0]); a {
	case actChoose, actPrompt:
		return button{act: a, effect: arg}, arg != ""
	case actAgain:
		effect, ref, _ := strings.Cut(arg, ":")
		return button{act: a, effect: effect, ref: ref}, effect != "" && (ref == "" || validPredictionID(ref))
	case actCancel:
		return parseCancel(arg)
	case actBuy:
		n, err := strconv.Atoi(arg)
		return button{act: actBuy, stars: n}, err == nil && n > 0
	}
	return button{}, false
}

// parseCancel reads the argument of a Cancel: "e_<effect>", "a_<effect>"
// or "r_<effect>_<message>".
func parseCancel(arg string) (button, bool) {
	of, effect, found := strings.Cut(arg, "_")
	if !found || len(of) != 1 || effect == "" {
		return button{}, false
	}
	switch action(of[0]) {
	case actChoose, actAgain:
		return button{act: actCancel, of: action(of[0]), effect: effect}, true
	case actReply:
		i := strings.LastIndexByte(effect, '_')
		if i <= 0 {
			return button{}, false
		}
		reply, err := strconv.Atoi(effect[i+1:])
		if err != nil || reply <= 0 {
			return button{}, false
		}
		return button{act: actCancel, of: actReply, effect: effect[:i], reply: reply}, true
	}
	return button{}, false
}

func chooseButton(text, effect string) Button {
	return Button{Text: text, Data: button{act: actChoose, effect: effect}.String()}
}
