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
//	m             the menu again
//	x:<e|a>_<effect>  Cancel of the prediction that button of the same
//	              message started (found by its claim)
//	b:<stars>     a pack of Stars: an invoice for it
type action byte

const (
	actChoose action = 'e'
	actAgain  action = 'a'
	actMenu   action = 'm'
	actCancel action = 'x'
	actBuy    action = 'b'
)

// button is a button's data, parsed.
type button struct {
	act    action
	effect string // the effect of choose and again; of the started button, for cancel
	of     action // cancel: the action of the button whose prediction it stops
	stars  int    // buy: the pack
}

func (d button) String() string {
	switch d.act {
	case actMenu:
		return "m"
	case actCancel:
		return "x:" + string(d.of) + "_" + d.effect
	case actBuy:
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
	case actChoose, actAgain:
		return button{act: a, effect: arg}, arg != ""
	case actCancel:
		of, effect, found := strings.Cut(arg, "_")
		if !found || len(of) != 1 || (action(of[0]) != actChoose && action(of[0]) != actAgain) || effect == "" {
			return button{}, false
		}
		return button{act: actCancel, of: action(of[0]), effect: effect}, true
	case actBuy:
		n, err := strconv.Atoi(arg)
		return button{act: actBuy, stars: n}, err == nil && n > 0
	}
	return button{}, false
}

func chooseButton(text, effect string) Button {
	return Button{Text: text, Data: button{act: actChoose, effect: effect}.String()}
}
