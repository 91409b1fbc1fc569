// The conv/dense engine of the descriptor-driven accelerator (docs/targets.md, "RTL forms"):
// one instance runs every conv and dense layer of the model, one after another, each from its
// descriptor (the d_* inputs, held by wqrc_seq_top while the layer runs), so the area does not
// grow with depth. The arithmetic is wqrc_conv_engine.v's (docs/format.md section 3).
//
// Lanes: at channel step j the NL active lanes compute output channels j*NL .. j*NL + NL - 1
// (lane l: channel j*NL + l), so one step's filters are one run of the packer's codes and the
// layer's codes are read once, in order, from its segment's first word (the code reader below,
// one code a cycle). Per step j:
//   fill     the NL filters (T codes each) go into the lanes' weight buffers (one small RAM per
//            lane, two halves of TMAX codes): step 0's before the pixels start, step j + 1's into
//            the other half while step j computes, so a fill costs time only where it is longer
//            than the step before it (a flash's slow stream hides behind the pixels)
//   compute  for every output pixel, every tap: the lanes share one activation read (a grouped
//            layer's NL lanes lie in one group: NL divides its output channels per group);
//            then capture, and a drain of one requantized output a cycle while the next pixel
//            accumulates (a pixel of R reads is followed by max(0, NL * NCOL - R) idle cycles); the
//            lanes sum from 0, and the drain adds each channel's bias and applies its shift,
//            both from the parameter table at d_pbase + channel (a shift per channel: per-channel
//            exponents, docs/format.md 1c, need no more, as rshift_round(acc << D, S) =
//            rshift_round(acc, S - D))
// Column lanes (d_cols): a grid of NL channels x NCOL neighbouring outputs of one row (lane
// l = k * NL + c: channel j*NL + c, column ox0 + k; NL a power of two). A depthwise layer takes
// NL = 1 (one channel a step), a layer of one group NL = the channels, NCOL = P / NL. Each kernel
// row is read once for every column, R = (NCOL - 1) * S + KW inputs (the descriptor's kw1 is
// R - 1, its sw the group's advance NCOL * S), every input going to every lane: the NL lanes of
// column 0 hold the weights and take tap kx at the row's read kx, lane k * NL + c takes channel
// c's code k * S reads later, from a shift line of lane c's codes (SMAX, the largest S, and
// NLS, the grids some layer uses, size them). A row's taps reach NCOL * KW products a channel
// in R reads instead of NCOL * KW reads.
// Addresses come from adders only: the descriptor carries the products (H*W, DH*W, ...) and
// the last index of every loop (the *1 fields), so no comparison subtracts.
`default_nettype none
module wqrc_seq_conv #(
    parameter integer P = 1,            // lanes
    parameter integer BMAX = 4,         // widest code of any layer
    parameter integer TMAX = 16,        // most taps of any layer (a lane buffer's depth)
    parameter integer ACC_W = 24,       // the widest accumulator of any layer
    parameter integer HAS_EVEN = 0,     // some layer rounds ties to even
    parameter integer QW = 7,           // requantization shift position (wqrc_shift_round.v), in the parameter table
    parameter integer MW = 16,          // activation width in the banks (signed)
    parameter integer XW = 16,          // signed address arithmetic (bank addresses fit)
    parameter integer GW = 12,          // geometry fields
    parameter integer WORD_W = 32,      // weight memory word (the packer's)
    parameter integer WAW = 8,          // weight memory address bits
    parameter integer PAW = 8,          // parameter table address bits
    parameter integer AW = 8,           // bank address bits
    parameter integer HAS_PO2 = 1,
    parameter integer HAS_DFP = 0,
    parameter integer SMAX = 0,         // column lanes' largest stride; 0: no layer uses them
    parameter integer NLS = 0           // bit i: some layer runs on a grid of 2**i channels x P >> i columns
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              start,
    output reg               done,
    // the layer's descriptor
    input  wire [GW-1:0]     d_t1, d_cg1, d_kh1, d_kw1, d_h, d_w, d_ow1, d_npix1, d_sw, d_dw, d_pt, d_pl,
    input  wire [GW-1:0]     d_sh, d_dh, d_nj1, d_nl, d_oc, d_ocg, d_gap,
    input  wire              d_cols,   // column lanes (above); their count, the row's outputs, the
    input  wire [GW-1:0]     d_ncol, d_owc, d_kwr1, d_lsw,   // kernel's last column, the stride
    input  wire [GW-1:0]     d_ostep,  // the drain's step from one channel to the next (NPIX)
    input  wire [GW-1:0]     d_nl1, d_lnl,   // NL - 1; log2 NL (column lanes: NL is a power of two)
    input  wire signed [XW-1:0] d_hw, d_dhw, d_srow, d_corner0, d_gstep, d_nlnpix, d_ibase, d_obase,
    input  wire [WAW-1:0]    d_wword,
    input  wire [4:0]        d_b,      // code bits, 2..16
    input  wire [BMAX-1:0]   d_bmask, d_bsign,   // b - 1 ones, and bit b - 1 (wqrc_pe_rt.v)
    input  wire              d_po2,
    input  wire [PAW-1:0]    d_pbase,
    input  wire              d_even,
    input  wire signed [MW-1:0] d_lo, d_hi,
    // memories
    output wire              w_seek,   // weight words, from a source (wqrc_wsrc_*.v): start at
    output wire [WAW-1:0]    w_from,   // word w_from; w_req asks for the next word, which arrives
    output wire              w_req,    // with w_valid (the next cycle from a ROM, later from a
    input  wire              w_valid,  // flash); one request at a time
    input  wire [WORD_W-1:0] w_d,
    output wire [PAW-1:0]    p_addr,   // parameter table: {shift position (QW bits), bias (ACC_W bits)}
    input  wire [ACC_W+QW-1:0] p_d,
    output reg  [AW-1:0]     in_addr,  // the input bank
    input  wire signed [MW-1:0] in_d,
    output reg               out_we,   // the output bank
    output reg  [AW-1:0]     out_addr,
    output reg  [MW-1:0]     out_d
);
    localparam integer WB = $clog2(WORD_W);
    localparam integer LW = $clog2(P + 1) + 1;
    localparam integer TB = TMAX > 1 ? $clog2(TMAX) : 1;   // a half's address bits
    localparam integer TH = 1 << TB;          // a half's depth
    localparam integer FILL = 1, SETTLE = 2, RUN = 3, FINISH = 4;
    /* verilator lint_off WIDTH */
    reg [2:0] state;
    reg [GW-1:0] j;                           // channel step
    reg signed [XW-1:0] cbnp;                 // j * NL * NPIX: the step's first output channel's offset
    reg [GW-1:0] cbase;                       // j * NL
    reg [GW-1:0] in_group;                    // cbase's place in its group
    reg signed [XW-1:0] gbase;                // its group's first input channel, as an address

    // ---- the code reader: the layer's codes in order, one a cycle ----------------------------
    reg [WORD_W-1:0] cur, nxt;
    reg nxt_v, pend;
    reg [WB:0] off;                           // the next code's first bit in {nxt, cur}
    reg fill_on;                              // a step's codes are going into the buffers' half fhalf
    reg fhalf, rhalf;                         // the half being filled, the half the pixels read
    reg [GW-1:0] ft;                          // the tap being filled
    reg [LW-1:0] fl;                          // the lane being filled
    wire codes_left = fl != d_nl;
    wire ready = fill_on && !codes_left;      // a filled half waits for its step
    // off + b against the word, as comparisons of off with WORD_W - b (a register: the layer's b
    // is held while it runs), so no adder lies between off and the word request
    reg [WB:0] lim;
    always @(posedge clk) lim <= WORD_W - d_b;
    wire emit_ok = off <= lim || nxt_v;       // off + b <= WORD_W: the code lies in cur
    wire take = fill_on && codes_left && emit_ok;
    wire [WB+1:0] off_t = take ? off + d_b : off;
    wire move = nxt_v && (take ? off >= lim : off >= WORD_W);   // off_t >= WORD_W
    wire req = state != 0 && !pend && (!nxt_v || move);   // the word will have a free slot
    assign w_seek = start;
    assign w_from = d_wword;
    assign w_req = req && !rst && !start;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [2*WORD_W-1:0] pair = {nxt, cur} >> off;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [BMAX-1:0] code_in = pair[BMAX-1:0];   // bits above b are ignored by the PEs
    always @(posedge clk) begin
        if (rst || start) begin
            off <= WORD_W; nxt_v <= 1'b0; pend <= 1'b0;
        end else begin
            if (req) pend <= 1'b1;
            else if (w_valid) pend <= 1'b0;
            off <= move ? off_t - WORD_W : off_t;
            if (move) cur <= nxt;
            if (w_valid) begin nxt <= w_d; nxt_v <= 1'b1; end
            else if (move) nxt_v <= 1'b0;
        end
    end

    // ---- the loop nest of a compute pass ---------------------------------------------------
    reg [GW-1:0] gap, t_ic, t_ky, t_kx, ox, tk;
    reg [GW-1:0] pix;                         // the pixel (column lanes: the group of NCOL outputs)
    reg [GW-1:0] opix;                        // its first output's index in the channel
    reg [GW-1:0] cl;                          // the outputs left in this row, from this group on
    reg rp;                                   // the kernel row's parity (the shift line's rows)
    wire [GW-1:0] ocnt = cl < d_ncol ? cl : d_ncol;   // the group's outputs
    wire [GW-1:0] left_c = d_oc - cbase;      // channels of this step that exist
    wire [LW-1:0] nact = left_c < d_nl ? left_c : d_nl;
    reg signed [XW-1:0] kyd, kxd, rowoff, chan_off, iy0, ix0, corner;
    wire last_tap = t_ic == d_cg1 && t_ky == d_kh1 && t_kx == d_kw1;
    wire last_pix = pix == d_npix1;
    wire iss = state == RUN && gap == 0;
    wire signed [XW-1:0] iy = iy0 + kyd;
    wire signed [XW-1:0] ix = ix0 + kxd;
    wire ok = $unsigned(iy) < d_h && $unsigned(ix) < d_w;   // a negative one is a large unsigned
    wire signed [XW-1:0] addr = d_ibase + gbase + corner + chan_off + rowoff + kxd;
    // a: the address; r: the bank reads it, the lanes their buffers; s1: the read's data (the
    // top registers it after the bank multiplexer) and the codes; s2: accumulated
    reg a_v, a_first, a_last, a_ok, r_v, r_first, r_last, r_ok, s1_v, s1_first, s1_last, s1_ok, s2_v, s2_last, cap;
    reg a_tv, r_tv, s1_tv, a_rp, r_rp, s1_rp; // lane 0's tap is real (kx <= KW - 1); the row's parity
    reg [GW-1:0] a_pix, r_pix, s1_pix, s2_pix, cap_pix;
    reg [LW-1:0] a_n, r_n, s1_n, s2_n, cap_n; // the outputs to drain after the pixel
    /* verilator lint_off UNUSEDSIGNAL */
    reg [GW-1:0] a_tk, r_tk;                  // the tap: a lane buffer's address (below TMAX)
    /* verilator lint_on UNUSEDSIGNAL */
    wire quiet = !a_v && !r_v && !s1_v && !s2_v && !cap;
    reg [LW-1:0] dleft;
    reg d0_v, d1_v, d2_v;                     // the drain's stages hold a value

    always @(posedge clk) begin
        done <= 1'b0;
        if (rst) begin
            state <= 0;
        end else if (start) begin
            state <= FILL; j <= 0; cbase <= 0; cbnp <= 0; in_group <= 0; gbase <= 0;
        end else case (state)
            FILL: begin                    // wait for step j's half
                if (ready) begin
                    state <= RUN; gap <= 0; pix <= 0; tk <= 0; opix <= 0; cl <= d_owc; rp <= 1'b0;
                    t_ic <= 0; t_ky <= 0; t_kx <= 0; kyd <= 0; kxd <= 0; rowoff <= 0; chan_off <= 0;
                    ox <= 0; iy0 <= -$signed({1'b0, d_pt}); ix0 <= -$signed({1'b0, d_pl});
                    corner <= d_corner0;
                end
            end
            RUN: begin
                if (gap != 0) gap <= gap - 1'b1;
                else if (!last_tap) begin
                    if (t_kx < d_kwr1 || t_kx == d_kw1) tk <= tk + 1'b1;   // lane 0's next tap
                    if (t_kx != d_kw1) begin
                        t_kx <= t_kx + 1'b1; kxd <= kxd + d_dw;
                    end else begin
                        t_kx <= 0; kxd <= 0; rp <= !rp;
                        if (t_ky != d_kh1) begin
                            t_ky <= t_ky + 1'b1; kyd <= kyd + d_dh; rowoff <= rowoff + d_dhw;
                        end else begin
                            t_ky <= 0; kyd <= 0; rowoff <= 0; t_ic <= t_ic + 1'b1; chan_off <= chan_off + d_hw;
                        end
                    end
                end else begin
                    tk <= 0; t_ic <= 0; t_ky <= 0; t_kx <= 0; kyd <= 0; kxd <= 0; rowoff <= 0; chan_off <= 0;
                    gap <= d_gap; rp <= !rp;
                    pix <= pix + 1'b1; opix <= opix + ocnt;
                    if (ox != d_ow1) begin
                        ox <= ox + 1'b1; ix0 <= ix0 + d_sw; corner <= corner + d_sw; cl <= cl - d_ncol;
                    end else begin
                        ox <= 0; ix0 <= -$signed({1'b0, d_pl}); iy0 <= iy0 + d_sh; corner <= corner + d_srow;
                        cl <= d_owc;
                    end
                    if (last_pix) state <= SETTLE;
                end
            end
            SETTLE: if (quiet) begin       // the last pixel is captured: the lanes' registers are free
                if (j == d_nj1) state <= FINISH;
                else begin
                    state <= FILL;
                    j <= j + 1'b1; cbase <= cbase + d_nl; cbnp <= cbnp + d_nlnpix;
                    if (in_group + d_nl == d_ocg) begin in_group <= 0; gbase <= gbase + d_gstep; end
                    else in_group <= in_group + d_nl;
                end
            end
            FINISH: if (quiet && dleft == 0 && !d0_v && !d1_v && !d2_v && !out_we) begin state <= 0; done <= 1'b1; end
            default: ;
        endcase
    end

    // ---- the fill: step j + 1's codes go into the other half as step j starts its pixels ----------
    always @(posedge clk) begin
        if (rst) begin
            fill_on <= 1'b0;
        end else if (start) begin
            fill_on <= 1'b1; fl <= 0; ft <= 0; fhalf <= 1'b0;
        end else begin
            if (take) begin
                if (ft == d_t1) begin ft <= 0; fl <= fl + 1'b1; end
                else ft <= ft + 1'b1;
            end
            if (state == FILL && ready) begin
                rhalf <= fhalf;
                if (j != d_nj1) begin fl <= 0; ft <= 0; fhalf <= !fhalf; end
                else fill_on <= 1'b0;
            end
        end
    end

    // ---- address, read, align, accumulate ---------------------------------------------------
    always @(posedge clk) begin
        a_v <= iss && !rst && !start;
        a_first <= t_ic == 0 && t_ky == 0 && t_kx == 0; a_last <= last_tap; a_ok <= ok; a_tk <= tk;
        a_pix <= opix; a_n <= ((ocnt - 1'b1) << d_lnl) + nact; a_tv <= t_kx <= d_kwr1; a_rp <= rp;
        in_addr <= ok ? addr : 0;
        r_v <= a_v && !rst; r_first <= a_first; r_last <= a_last; r_ok <= a_ok; r_pix <= a_pix;
        r_n <= a_n; r_tv <= a_tv; r_rp <= a_rp; r_tk <= a_tk;
        s1_v <= r_v && !rst; s1_first <= r_first; s1_last <= r_last; s1_ok <= r_ok; s1_pix <= r_pix;
        s1_n <= r_n; s1_tv <= r_tv; s1_rp <= r_rp;
        s2_v <= s1_v && !rst; s2_last <= s1_last; s2_pix <= s1_pix; s2_n <= s1_n;
    end
    wire [P*ACC_W-1:0] sums;
    wire signed [MW-1:0] x_lane = s1_ok ? in_d : {MW{1'b0}};   // zero padding is q = 0
    wire signed [MW:0] xn_lane = -$signed({x_lane[MW-1], x_lane}); // its negation, once for every lane
    // Column lanes' shift lines (a layer on NL x NCOL lanes, NL = 2**i for a bit i of NLS): lane
    // l = k * NL + c takes channel c's code of k * S reads ago. The codes of lane c as read (at s1)
    // go into its line, as long as the widest grid that gives lane c columns needs (cdepth); one
    // line of tags serves every channel: each read's tap validity, first-tap flag and row parity.
    localparam integer TAGW = 3;              // {row parity, first, valid}
    function integer cdepth(input integer c);
        integer i;
        begin
            cdepth = 0;
            for (i = 0; i < 16; i = i + 1)
                if (NLS[i] && (1 << i) > c && ((P >> i) - 1) * SMAX > cdepth) cdepth = ((P >> i) - 1) * SMAX;
        end
    endfunction
    function integer coff(input integer c);   // lane c's first entry in the flat lines: the lines
        integer i, lo, hi;                    // of lanes 0 .. c - 1, in runs of equal depth (the
        begin                                 // lanes below 2**i and not below the grid before it),
            coff = c; lo = 0;                 // so Yosys evaluates it in 16 steps, not c * 16
            for (i = 0; i < 16; i = i + 1)
                if (NLS[i] && (1 << i) > lo) begin
                    hi = (1 << i) < c ? (1 << i) : c;
                    if (hi > lo) coff = coff + (hi - lo) * ((P >> i) - 1) * SMAX;
                    lo = 1 << i;
                end
        end
    endfunction
    localparam integer D = cdepth(0);         // the tag line: as deep as lane 0's
    localparam integer CTOT = coff(P);
    /* verilator lint_off UNUSEDSIGNAL */
    wire [(D+1)*TAGW-1:0] tags;               // unread where no layer takes column lanes
    wire [CTOT*BMAX-1:0] codes;
    wire [GW-1:0] lsw = d_lsw;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [TAGW-1:0] t0 = {s1_rp, s1_first, s1_tv};
    assign tags[TAGW-1:0] = t0;
    generate if (D > 0) begin : tag_line
        reg [D*TAGW-1:0] held;
        /* verilator lint_off UNUSEDSIGNAL */
        wire [(D+1)*TAGW-1:0] shifted = {held, t0};   // the oldest falls off
        /* verilator lint_on UNUSEDSIGNAL */
        always @(posedge clk) if (s1_v) held <= shifted[D*TAGW-1:0];
        assign tags[(D+1)*TAGW-1:TAGW] = held;
    end endgenerate
    // grid[i]: this layer's lanes are a grid of 2**i channels (one bit at most, and only with d_cols)
    wire [15:0] grid;
    genvar l, gi;
    generate for (gi = 0; gi < 16; gi = gi + 1) begin : grids
        assign grid[gi] = NLS[gi] && d_cols && d_nl == (1 << gi);
    end endgenerate
    generate for (l = 0; l < P; l = l + 1) begin : lane
        reg [BMAX-1:0] wbuf [0:2*TH-1];
        reg [BMAX-1:0] wq;
        always @(posedge clk) begin
            if (take && fl == l) wbuf[{fhalf, ft[TB-1:0]}] <= code_in;
            wq <= wbuf[{rhalf, r_tk[TB-1:0]}];
        end
        localparam integer DC = cdepth(l), OC = coff(l);
        assign codes[OC*BMAX +: BMAX] = wq;
        if (DC > 0) begin : code_line
            reg [DC*BMAX-1:0] held;
            /* verilator lint_off UNUSEDSIGNAL */
            wire [(DC+1)*BMAX-1:0] shifted = {held, wq};   // the oldest falls off
            /* verilator lint_on UNUSEDSIGNAL */
            always @(posedge clk) if (s1_v) held <= shifted[DC*BMAX-1:0];
            assign codes[(OC+1)*BMAX +: DC*BMAX] = held;
        end
        // the grids in which this lane is a column beside its channel's first (l >= 2**i): lane
        // l = K * 2**i + C takes lane C's code and the tags of K * S reads ago (positions fixed
        // at elaboration, so each grid's selection is wires and a multiplexer over S)
        wire [16*BMAX-1:0] oc;
        wire [16*TAGW-1:0] ot;
        for (gi = 0; gi < 16; gi = gi + 1) begin : grid_of
            if (NLS[gi] && l >= (1 << gi)) begin : column
                localparam integer K = l >> gi, OFF = coff(l & ((1 << gi) - 1));
                reg [BMAX-1:0] c_s;
                reg [TAGW-1:0] t_s;
                integer s;
                always @(*) begin
                    c_s = codes[(OFF + K) * BMAX +: BMAX]; t_s = tags[K * TAGW +: TAGW];
                    for (s = 2; s <= SMAX; s = s + 1)
                        if (lsw == s) begin c_s = codes[(OFF + K * s) * BMAX +: BMAX]; t_s = tags[K * s * TAGW +: TAGW]; end
                end
                assign oc[gi*BMAX +: BMAX] = c_s;
                assign ot[gi*TAGW +: TAGW] = t_s;
            end else begin : none
                assign oc[gi*BMAX +: BMAX] = {BMAX{1'b0}};
                assign ot[gi*TAGW +: TAGW] = {TAGW{1'b0}};
            end
        end
        reg [BMAX-1:0] lc;
        reg [TAGW-1:0] lt;
        reg use_line;
        integer i;
        always @(*) begin
            lc = wq; lt = t0; use_line = 1'b0;
            for (i = 0; i < 16; i = i + 1)
                if (NLS[i] && l >= (1 << i) && grid[i]) begin
                    use_line = 1'b1; lc = oc[i*BMAX +: BMAX]; lt = ot[i*TAGW +: TAGW];
                end
        end
        reg en, fst;
        always @(posedge clk) begin
            en <= s1_v && (use_line ? lt[0] && lt[2] == s1_rp : !d_cols || s1_tv);
            fst <= use_line ? lt[1] : s1_first;
        end
        wqrc_pe_rt #(.BMAX(BMAX), .MW(MW), .ACC_W(ACC_W), .HAS_PO2(HAS_PO2), .HAS_DFP(HAS_DFP)) pe(
            .clk(clk), .first(fst), .en(en), .po2(d_po2), .bmask(d_bmask), .bsign(d_bsign),
            .x_in(x_lane), .xn_in(xn_lane), .code_in(lc),
            .acc(sums[l*ACC_W +: ACC_W]));
    end endgenerate

    // ---- capture and drain: one requantized output a cycle -----------------------------------
    // D0: the lane's sum leaves the shift register, its channel's table entry is addressed;
    // D1: the bias is added; D2: the rounding shifter's register; D3: the output register.
    // The lanes drain in order, l = k * NL + c: channel c's output at column k of the group, at
    // the channel's offset c * NPIX past column k's address; a slot of a channel past the layer's
    // last (its last step's c >= NACT) is skipped without a write.
    reg [P*ACC_W-1:0] dq;                     // lane 0 first
    reg [PAW-1:0] pa, pa0;                    // the drained channel's table entry; channel 0's
    reg [AW-1:0] daddr, kaddr, daddr_d0, a1, a2;   // the drained output's address; column k's
    reg [LW-1:0] dc, dnact;                   // the drained lane's channel; the channels that exist
    reg signed [ACC_W-1:0] v0, v1;
    reg [QW-1:0] p1;
    assign p_addr = pa;
    wire [MW-1:0] y;
    wqrc_shift_round #(.IN_W(ACC_W), .OUT_W(MW), .QW(QW), .HAS_EVEN(HAS_EVEN)) rq(
        .clk(clk), .v(v1), .p(p1), .even(d_even), .lo(d_lo), .hi(d_hi), .y(y));
    always @(posedge clk) begin
        cap <= s2_v && s2_last && !rst;
        cap_pix <= s2_pix; cap_n <= s2_n;
        d0_v <= 1'b0;
        d1_v <= d0_v && !rst; a1 <= daddr_d0;
        v1 <= v0 + $signed(p_d[ACC_W-1:0]); p1 <= p_d[ACC_W +: QW];
        d2_v <= d1_v && !rst; a2 <= a1;
        out_we <= d2_v && !rst; out_addr <= a2; out_d <= y;
        if (rst) begin
            dleft <= 0; cap <= 1'b0;
        end else begin
            if (dleft != 0) begin
                d0_v <= dc < dnact; v0 <= dq[ACC_W-1:0]; daddr_d0 <= daddr; dleft <= dleft - 1'b1;
                dq <= dq >> ACC_W;
                if (dc == d_nl1) begin
                    dc <= 0; pa <= pa0; kaddr <= kaddr + 1'b1; daddr <= kaddr + 1'b1;
                end else begin
                    dc <= dc + 1'b1; pa <= pa + 1'b1; daddr <= daddr + d_ostep;
                end
            end
            if (cap) begin
                dq <= sums; dleft <= cap_n; pa <= d_pbase + cbase; pa0 <= d_pbase + cbase; dc <= 0;
                dnact <= nact; daddr <= d_obase + cbnp + cap_pix; kaddr <= d_obase + cbnp + cap_pix;
            end
        end
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
