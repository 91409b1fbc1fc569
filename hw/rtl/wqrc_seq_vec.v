// The vector engine of the descriptor-driven accelerator (docs/targets.md, "RTL forms"): one
// instance runs every pooling, element-wise and lookup layer, each from its descriptor. The
// arithmetic is wqrc_pool_engine.v's and wqrc_eltwise_engine.v's (docs/format.md section 3):
//
//   window mode (d_pool = 1): max, average or global average pooling, one window element a
//       cycle; the window's result is rshift_round(acc * R, S) with (R, S) from the divisor
//       table at d_dbase + index: a window of n elements reads entry n, and a max pool, a global
//       pool or one counting padding reads entry d_fix (d_incpad)
//   element mode (d_pool = 0): y = clamp(rshift_round(x0, sh0) + rshift_round(x1, sh1)) (the shifts
//       as wqrc_shift_round.v's positions, d_p0 and d_p1), the
//       second term only for an add (d_two), x1 read from a second bank; a lookup-table
//       activation (d_lut) reads y = table[d_lbase + x0 - d_qmin] instead
// Every output is written at d_obase + its index (a concat's part at its offset). Loops end at
// their descriptor's last index (the *1 fields), so no comparison subtracts.
`default_nettype none
module wqrc_seq_vec #(
    parameter integer MW = 16,          // activation width in the banks (signed)
    parameter integer XW = 16,
    parameter integer GW = 12,
    parameter integer QW = 8,           // shift positions (wqrc_shift_round.v)
    parameter integer TW = 17,          // an aligned sum's width (saturated there, as the C kernels do)
    parameter integer RW = 18,          // bits of the largest divisor multiplier R
    parameter integer KB = 5,           // bits of the largest window's element count
    parameter integer SUMW = 22,        // a window's signed sum
    parameter integer PW = 41,          // the sum times R
    parameter integer DAW = 4,          // divisor table address bits
    parameter integer LAW = 4,          // lookup table address bits
    parameter integer AW = 8
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              start,
    output reg               done,
    input  wire              d_pool, d_max, d_two, d_lut, d_incpad,
    input  wire [GW-1:0]     d_n1, d_c1, d_h, d_w, d_oh1, d_ow1, d_kh1, d_kw1, d_sh, d_sw, d_dh, d_dw, d_pt, d_pl, d_fix,
    input  wire signed [XW-1:0] d_hw, d_dhw, d_srow, d_corner0, d_ibase, d_i1base, d_obase,
    input  wire [QW-1:0]     d_p0, d_p1,   // the terms' shift positions
    input  wire signed [MW-1:0] d_lo, d_hi, d_qmin,
    input  wire [DAW-1:0]    d_dbase,
    input  wire [LAW-1:0]    d_lbase,
    output wire [DAW-1:0]    div_addr,  // divisor table: {S (8 bits), R (RW bits)}
    input  wire [RW+QW-1:0]  div_d,     // {S's position, R}
    output wire [LAW-1:0]    lut_addr,
    input  wire [MW-1:0]     lut_d,
    output reg  [AW-1:0]     in_addr,   // both input banks: element i of each, or the window's tap
    output reg  [AW-1:0]     in1_addr,
    input  wire signed [MW-1:0] in_d,
    input  wire signed [MW-1:0] in1_d,
    output reg               out_we,
    output reg  [AW-1:0]     out_addr,
    output reg  [MW-1:0]     out_d
);
    /* verilator lint_off WIDTH */
    reg running;
    reg [GW-1:0] c, oy, ox, ky, kx, i;
    reg signed [XW-1:0] kyd, kxd, rowoff, chan, iy0, ix0, corner;
    wire last_k = !d_pool || (ky == d_kh1 && kx == d_kw1);
    wire last_all = d_pool ? last_k && ox == d_ow1 && oy == d_oh1 && c == d_c1 : i == d_n1;
    wire signed [XW-1:0] iy = iy0 + kyd;
    wire signed [XW-1:0] ix = ix0 + kxd;
    wire ok = !d_pool || ($unsigned(iy) < d_h && $unsigned(ix) < d_w);   // a negative one is a large unsigned
    wire signed [XW-1:0] waddr = d_ibase + chan + corner + rowoff + kxd;

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (start) begin
            running <= 1'b1; c <= 0; oy <= 0; ox <= 0; ky <= 0; kx <= 0; i <= 0;
            kyd <= 0; kxd <= 0; rowoff <= 0; chan <= 0;
            iy0 <= -$signed({1'b0, d_pt}); ix0 <= -$signed({1'b0, d_pl}); corner <= d_corner0;
        end else if (running) begin
            if (last_all) running <= 1'b0;
            i <= i + 1'b1;
            if (kx != d_kw1) begin kx <= kx + 1'b1; kxd <= kxd + d_dw; end
            else begin
                kx <= 0; kxd <= 0;
                if (ky != d_kh1) begin ky <= ky + 1'b1; kyd <= kyd + d_dh; rowoff <= rowoff + d_dhw; end
                else begin
                    ky <= 0; kyd <= 0; rowoff <= 0;
                    if (ox != d_ow1) begin ox <= ox + 1'b1; ix0 <= ix0 + d_sw; corner <= corner + d_sw; end
                    else begin
                        ox <= 0; ix0 <= -$signed({1'b0, d_pl});
                        if (oy != d_oh1) begin oy <= oy + 1'b1; iy0 <= iy0 + d_sh; corner <= corner + d_srow; end
                        else begin
                            oy <= 0; iy0 <= -$signed({1'b0, d_pt}); corner <= d_corner0;
                            c <= c + 1'b1; chan <= chan + d_hw;
                        end
                    end
                end
            end
        end
    end

    // ---- address, read, fold (window) or register (element), requantize, write -------------
    // a: the address; r: the bank reads it; s1: its data, registered by the top, arrives
    reg a_v, a_first, a_last, a_ok, r_v, r_first, r_last, r_ok, s1_v, s1_first, s1_last, s1_ok, s2_v;
    reg [AW-1:0] o_idx;                        // the next output's index
    always @(posedge clk) begin
        a_v <= running && !rst && !start;
        a_first <= ky == 0 && kx == 0; a_last <= last_k; a_ok <= ok;
        in_addr <= d_pool ? (ok ? waddr : 0) : d_ibase + i;
        in1_addr <= d_i1base + i;
        r_v <= a_v && !rst; r_first <= a_first; r_last <= a_last; r_ok <= a_ok;
        s1_v <= r_v && !rst; s1_first <= r_first; s1_last <= r_last; s1_ok <= r_ok;
        s2_v <= s1_v && s1_last && !rst;
    end
    wire signed [SUMW-1:0] xv = in_d;
    reg signed [SUMW-1:0] acc;                 // the window so far (max: the best element)
    reg [KB:0] n;
    reg found;
    wire seen = found && !s1_first;
    wire signed [SUMW-1:0] best_now = (s1_ok && (!seen || xv > acc)) ? xv : (seen ? acc : 0);
    wire signed [SUMW-1:0] sum_now = (s1_first ? 0 : acc) + (s1_ok ? xv : 0);
    wire [KB:0] n_now = (s1_first ? 0 : n) + s1_ok;
    wire signed [SUMW-1:0] acc_now = d_max ? best_now : sum_now;
    reg signed [SUMW-1:0] p_acc;
    reg signed [MW-1:0] x1r;
    assign div_addr = d_dbase + (d_incpad ? d_fix : n_now);
    // the element's entry, x - qmin in 0 .. 2**MW - 1, formed signed before it meets the unsigned
    // base: in one unsigned expression both terms were zero-extended, and a table address wider
    // than MW made a non-negative x of a signed input miss its entry by 2**MW (fuzzer seed 3110)
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [MW:0] lut_off = in_d - d_qmin;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [MW-1:0] lut_idx = lut_off[MW-1:0];
    assign lut_addr = d_lbase + lut_idx;
    always @(posedge clk) begin
        if (s1_v) begin acc <= acc_now; n <= n_now; found <= seen || s1_ok; end
        p_acc <= d_pool ? acc_now : xv;
        x1r <= in1_d;
    end
    // s2: the divisor entry and the lookup arrive; the window's sum times R (no multiplier where
    // every divisor is a power of two: R is then 1, or 0 in a max pool's unused entry)
    wire signed [PW-1:0] times_r;
    generate if (RW > 1) begin : mul
        assign times_r = p_acc * $signed({1'b0, div_d[RW-1:0]});
    end else begin : pass
        assign times_r = div_d[0] ? p_acc : 0;
    end endgenerate
    reg s3_v, s4_v, s5_v;
    reg signed [PW-1:0] prod_q;
    reg [QW-1:0] s0_q;
    reg signed [MW-1:0] x1q;
    reg [MW-1:0] lut_q, lut_q2, lut_q3;
    always @(posedge clk) begin
        prod_q <= d_pool ? times_r : p_acc;
        s0_q <= d_pool ? div_d[RW +: QW] : d_p0;
        x1q <= x1r; lut_q <= lut_d; lut_q2 <= lut_q; lut_q3 <= lut_q2;
        s3_v <= s2_v && !rst; s4_v <= s3_v && !rst; s5_v <= s4_v && !rst;
    end
    // s3: both terms through a rounding shifter (registered inside), s4: registered, s5: summed and clamped
    localparam signed [TW-1:0] TMIN = {1'b1, {(TW-1){1'b0}}};
    localparam signed [TW-1:0] TMAX = {1'b0, {(TW-1){1'b1}}};
    wire [TW-1:0] t0, t1;
    wqrc_shift_round #(.IN_W(PW), .OUT_W(TW), .QW(QW), .HAS_EVEN(0)) a0(
        .clk(clk), .v(prod_q), .p(s0_q), .even(1'b0), .lo(TMIN), .hi(TMAX), .y(t0));
    wqrc_shift_round #(.IN_W(MW), .OUT_W(TW), .QW(QW), .HAS_EVEN(0)) a1(
        .clk(clk), .v(x1q), .p(d_p1), .even(1'b0), .lo(TMIN), .hi(TMAX), .y(t1));
    reg signed [TW-1:0] t0_q, t1_q;
    always @(posedge clk) begin t0_q <= t0; t1_q <= d_two ? t1 : 0; end
    wire signed [TW:0] s = t0_q + t1_q;
    wire signed [TW:0] lo_w = d_lo;
    wire signed [TW:0] hi_w = d_hi;
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [TW:0] y = s < lo_w ? lo_w : s > hi_w ? hi_w : s;   // inside [lo, hi]: its low MW bits
    /* verilator lint_on UNUSEDSIGNAL */
    always @(posedge clk) begin
        out_we <= 1'b0;
        if (start) o_idx <= 0;
        if (s5_v) begin
            out_we <= 1'b1; out_addr <= d_obase + o_idx; o_idx <= o_idx + 1'b1;
            out_d <= d_lut ? lut_q3 : y[MW-1:0];
        end
        done <= running == 1'b0 && !a_v && !r_v && !s1_v && !s2_v && !s3_v && !s4_v && !s5_v && out_we && !start;
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
