// The requantization rule of docs/format.md section 3, the one copy in the RTL:
// y = clamp(sat(rshift_round(acc, SHIFT)), LO, HI), for every shift the quantizer
// can produce. SHIFT, LO and HI are per-layer constants, so every shift here is
// wiring: no barrel shifter, no multiplier.
//
//   SHIFT > 0: t = acc >>> (SHIFT-1), y = (t >>> 1) + t[0]  (round half up, the same
//              value as (acc + 2^(SHIFT-1)) >>> SHIFT, without a wider adder); SHIFT-1
//              beyond the accumulator is capped, where t is already 0 or -1.
//   EVEN = 1 (ties to even, a layer whose imported quantizer rounds so): the same from
//              acc - 1 + acc[SHIFT] (bit SHIFT of acc, capped at the sign); only exact ties move
//   SHIFT < 0: acc << -SHIFT, formed in ACC_W - SHIFT bits so nothing overflows; a
//              shift past OUT_W + 1 bits saturates every non-zero value just the
//              same, so it is capped there.
// Then saturation to the OUT_W-bit output format and the fused clamp [LO, HI]
// (LO and HI already lie inside the format).
`default_nettype none
module wqrc_requant #(
    parameter integer ACC_W = 24,   // accumulator width (signed)
    parameter integer OUT_W = 8,    // output width; the value is signed or unsigned per LO/HI
    parameter integer SHIFT = 0,    // sh = f_y - (f_x + e_w)
    parameter signed [63:0] LO = -128,
    parameter signed [63:0] HI = 127,
    parameter integer EVEN = 0      // 1: ties to even (docs/format.md section 3); 0: ties up
) (
    input  wire signed [ACC_W-1:0] acc,
    output wire        [OUT_W-1:0] y
);
    localparam integer RS = (SHIFT - 1 < ACC_W - 1) ? SHIFT - 1 : ACC_W - 1;   // capped, SHIFT > 0
    localparam integer LS = (-SHIFT < OUT_W + 1) ? -SHIFT : OUT_W + 1;         // capped, SHIFT < 0
    localparam integer WA = ACC_W + (LS > 0 ? LS : 0);
    localparam integer W = (WA > OUT_W ? WA : OUT_W) + 2;                     // every candidate fits

    // Widths change on purpose below: signed values sign-extend into the wider W bits.
    /* verilator lint_off WIDTH */
    wire signed [W-1:0] wide = acc;
    localparam integer ES = (SHIFT < W - 1) ? SHIFT : W - 1;                  // bit SHIFT, capped
    wire signed [W-1:0] bit_s = {{(W-1){1'b0}}, wide[ES > 0 ? ES : 0]};
    wire signed [W-1:0] src = (EVEN != 0 && SHIFT > 0) ? wide - 1 + bit_s : wide;
    wire signed [W-1:0] t = src >>> (RS > 0 ? RS : 0);
    wire signed [W-1:0] half = t >>> 1;
    wire signed [W-1:0] rounded = half + $signed({1'b0, t[0]});
    wire signed [W-1:0] left = wide <<< (LS > 0 ? LS : 0);
    wire signed [W-1:0] v = (SHIFT > 0) ? rounded : (SHIFT < 0) ? left : wide;
    wire signed [W-1:0] lo = LO;                           // LO, HI fit OUT_W + 1 <= W bits
    wire signed [W-1:0] hi = HI;
    /* verilator lint_on WIDTH */
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [W-1:0] c = (v < lo) ? lo : (v > hi) ? hi : v;   // inside [LO, HI]: the low OUT_W bits are y
    /* verilator lint_on UNUSEDSIGNAL */
    assign y = c[OUT_W-1:0];
endmodule
`default_nettype wire
