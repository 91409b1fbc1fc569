// The requantization rule of docs/format.md section 3 with the shift, tie rule and clamp bounds
// as run-time inputs, for the descriptor-driven accelerator (wqrc_seq_*.v), whose engines serve
// every layer: y = clamp(rshift_round(acc, shift), lo, hi). The same arithmetic as
// wqrc_requant.v (which has them as parameters, so its shifts are wiring), here through a
// barrel shifter:
//
//   shift > 0: t = src >>> (shift - 1), y = (t >>> 1) + t[0], src = acc, or, ties to even,
//              acc - 1 + acc[shift] (bit shift of acc; the sign beyond the width)
//   shift < 0: acc << -shift, capped at OUT_W + 1 positions (every non-zero value past that
//              saturates just the same)
// lo and hi lie inside the output format, so the clamp is the saturation too.
`default_nettype none
module wqrc_requant_rt #(
    parameter integer ACC_W = 24,   // accumulator width (signed)
    parameter integer OUT_W = 16,   // output width: y is lo..hi as an OUT_W-bit two's-complement value
    parameter integer SW = 8        // bits of the signed shift
) (
    input  wire signed [ACC_W-1:0] acc,
    input  wire signed [SW-1:0]    shift,
    input  wire                    even,
    input  wire signed [OUT_W-1:0] lo,
    input  wire signed [OUT_W-1:0] hi,
    output wire        [OUT_W-1:0] y
);
    localparam integer W = ACC_W + OUT_W + 3;     // acc moved left by up to OUT_W + 1 fits
    /* verilator lint_off WIDTH */
    wire signed [W-1:0] wide = acc;
    wire pos = shift > 0;
    wire [SW-1:0] rs = pos ? shift - 1 : 0;
    wire [SW-1:0] ls_raw = pos ? 0 : -shift;
    wire [SW-1:0] ls = ls_raw > OUT_W + 1 ? OUT_W + 1 : ls_raw;
    wire signed [W-1:0] at_s = wide >>> (pos ? shift : 0);
    wire signed [W-1:0] src = (even && pos) ? wide - 1 + $signed({1'b0, at_s[0]}) : wide;
    wire signed [W-1:0] t = src >>> rs;
    wire signed [W-1:0] rounded = (t >>> 1) + $signed({1'b0, t[0]});
    wire signed [W-1:0] v = pos ? rounded : wide <<< ls;
    wire signed [W-1:0] lo_w = lo;
    wire signed [W-1:0] hi_w = hi;
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [W-1:0] c = (v < lo_w) ? lo_w : (v > hi_w) ? hi_w : v;
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_on WIDTH */
    assign y = c[OUT_W-1:0];
endmodule
`default_nettype wire
