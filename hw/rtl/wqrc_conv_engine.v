// One conv or dense layer (docs/format.md section 3) on P processing elements.
//
// The lanes work on P output channels of one output pixel: lane l computes the
// channels l*OCL .. l*OCL + OCL-1 (OCL = ceil(OC / P)), one after the other. So every
// lane reads its own weight codes, from its own ROM: the slice of the packer's words
// that holds its channels' codes, in the packer's order (C order of the weight tensor,
// so a filter's codes are read in sequence; a code may straddle two words, which a
// second ROM port serves). The lanes share the activation they multiply, one RAM read
// per cycle; only a grouped convolution, whose lanes may lie in different groups,
// reads one activation per lane (NRD = P read ports). A dense layer is a 1x1 conv of
// a 1x1 map, and keeps all lanes busy like any other layer.
//
// Loop nest, outermost first: the lanes' channel index j, output pixel (row-major),
// tap (input channel of the group, ky, kx). Pipeline: issue (the loop nest) ->
// address (registered) -> read (ROM and RAM data) -> align (each code cut from its
// word(s), padding applied) -> accumulate (the PEs) -> capture (the P sums move to a
// shift register) -> drain (one requantized output written per cycle while the next
// pixel accumulates). A pixel of T taps is followed by max(0, NL - T) idle cycles (NL:
// the lanes that have channels) so that its drain is always done in time: every cycle count is fixed by
// the geometry, which is what makes the report's cycle figure exact.
`default_nettype none
module wqrc_conv_engine #(
    parameter integer C = 1,            // input channels, height, width
    parameter integer H = 1,
    parameter integer W = 1,
    parameter integer OC = 1,           // output channels, height, width
    parameter integer OH = 1,
    parameter integer OW = 1,
    parameter integer G = 1,            // groups (ONNX)
    parameter integer KH = 1,
    parameter integer KW = 1,
    parameter integer SH = 1,           // strides
    parameter integer SW = 1,
    parameter integer DH = 1,           // dilations
    parameter integer DW = 1,
    parameter integer PT = 0,           // top and left pads (bottom/right are implied by OH, OW)
    parameter integer PL = 0,
    parameter integer PO2 = 1,          // 1: power-of-two codes, 0: DFP
    parameter integer B = 4,            // code bits
    parameter integer A = 8,            // input activation bits
    parameter integer A_SIGNED = 1,
    parameter integer ACC_W = 24,       // the accumulator bound's width (format.md section 3a)
    parameter integer OUT_W = 8,
    parameter integer SHIFT = 0,        // requantization: sh = f_y - (f_x + e_w); with per-channel
                                        // exponents the largest channel shift
    parameter integer DMAX = 0,         // per-channel exponents: the largest D_c = SHIFT - sh_c (0: none)
    parameter SHIFT_FILE = "shift.mem", // per-channel exponents: OC values D_c, 8-bit hex
    parameter signed [63:0] LO = -128,  // saturation and fused clamp, inside the output format
    parameter signed [63:0] HI = 127,
    parameter integer EVEN = 0,         // 1: the requantization rounds ties to even (docs/format.md section 3)
    parameter integer P = 1,            // lanes
    parameter integer WORD_W = 32,      // ROM word bits (a power of two)
    parameter integer ROM_AW = 8,       // address bits of each lane's ROM slice
    parameter integer IN_AW = 8,
    parameter integer OUT_AW = 8,
    parameter BIAS_FILE = "bias.mem"    // OC accumulator-scale biases, ACC_W-bit hex
) (
`include "wqrc_engine_ports.vh"
    output wire [P*ROM_AW-1:0]  rom_addr, // lane l's slice: word rom_addr[l] (and the next)
    input  wire [P*WORD_W-1:0]  rom_d0,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [P*WORD_W-1:0]  rom_d1,   // word + 1: read only when b does not divide WORD_W
    /* verilator lint_on UNUSEDSIGNAL */
    output wire [NRD*IN_AW-1:0] in_addr,
    input  wire [NRD*A-1:0]     in_d,
    output reg  [OUT_W-1:0]     out_d
);
`include "wqrc_engine_regs.vh"
    localparam integer NRD = G > 1 ? P : 1;        // activation read ports
    localparam integer CG = C / G;                 // input channels per group
    localparam integer OCG = OC / G;               // output channels per group
    localparam integer OCL = (OC + P - 1) / P;     // output channels per lane
    localparam integer T = CG * KH * KW;           // taps per output
    localparam integer NPIX = OH * OW;
    localparam integer NL = (OC + OCL - 1) / OCL;   // lanes that ever have a channel
    localparam integer GAP = (NL > T) ? NL - T : 0; // idle cycles after a pixel, for its drain
    localparam integer XW = $clog2(C * H * W + (OH * SH + KH * DH + PT + 2) * (OW * SW + KW * DW + W + PL + 2)) + 2;
    localparam integer WB = $clog2(WORD_W);
    localparam integer BW = $clog2((OCL + 1) * T * B + 2 * WORD_W) + 1;
    localparam integer NW = $clog2(NPIX + 1) + 1;
    localparam integer JW = $clog2(OC + 1) + 1;
    localparam integer TW = $clog2(CG + KH + KW + OW + OH + 2) + 1;
    localparam integer GW = $clog2(GAP + 2) + 1;
    localparam integer LW = $clog2(P + 1) + 1;

    /* verilator lint_off WIDTH */
    // ---- issue: the loop nest ------------------------------------------------------
`include "wqrc_engine_busy.vh"
    reg running;
    reg [GW-1:0] gap;
    reg [TW-1:0] t_ic, t_ky, t_kx, oy, ox;
    reg signed [XW-1:0] kyd, kxd, rowoff, chan_off;    // ky*DH, kx*DW, ky*DH*W, ic*H*W
    reg signed [XW-1:0] iy0, ix0, corner;              // the window's top-left: row, column, address
    reg [JW-1:0] j;
    reg [NW-1:0] pix;
    reg [BW-1:0] fbase, cpos;                          // j's first code bit and this tap's, in a slice
    wire first_tap = t_ic == 0 && t_ky == 0 && t_kx == 0;
    wire last_tap = t_ic == CG - 1 && t_ky == KH - 1 && t_kx == KW - 1;
    wire last_pix = pix == NPIX - 1;
    wire iss = running && gap == 0;
    wire next_j = iss && last_tap && last_pix;         // lane channels step: every lane's group may change

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0; gap <= 0;
        end else if (start) begin
            running <= 1'b1; gap <= 0;
            t_ic <= 0; t_ky <= 0; t_kx <= 0; kyd <= 0; kxd <= 0; rowoff <= 0; chan_off <= 0;
            oy <= 0; ox <= 0; iy0 <= -PT; ix0 <= -PL; corner <= -PT * W - PL;
            j <= 0; pix <= 0; fbase <= 0; cpos <= 0;
        end else if (gap != 0) begin
            gap <= gap - 1'b1;
        end else if (running) begin
            if (!last_tap) begin
                cpos <= cpos + B;
                if (t_kx != KW - 1) begin
                    t_kx <= t_kx + 1'b1; kxd <= kxd + DW;
                end else begin
                    t_kx <= 0; kxd <= 0;
                    if (t_ky != KH - 1) begin
                        t_ky <= t_ky + 1'b1; kyd <= kyd + DH; rowoff <= rowoff + DH * W;
                    end else begin
                        t_ky <= 0; kyd <= 0; rowoff <= 0;
                        t_ic <= t_ic + 1'b1; chan_off <= chan_off + H * W;
                    end
                end
            end else begin
                t_ic <= 0; t_ky <= 0; t_kx <= 0; kyd <= 0; kxd <= 0; rowoff <= 0; chan_off <= 0;
                gap <= GAP;
                if (!last_pix) begin
                    pix <= pix + 1'b1; cpos <= fbase;
                    if (ox != OW - 1) begin
                        ox <= ox + 1'b1; ix0 <= ix0 + SW; corner <= corner + SW;
                    end else begin
                        ox <= 0; ix0 <= -PL; oy <= oy + 1'b1; iy0 <= iy0 + SH;
                        corner <= corner + SH * W - (OW - 1) * SW;
                    end
                end else begin
                    pix <= 0; oy <= 0; ox <= 0; iy0 <= -PT; ix0 <= -PL; corner <= -PT * W - PL;
                    if (j == OCL - 1) begin
                        running <= 1'b0;
                    end else begin
                        j <= j + 1'b1; fbase <= fbase + T * B; cpos <= fbase + T * B;
                    end
                end
            end
        end
    end
    wire signed [XW-1:0] iy = iy0 + kyd;
    wire signed [XW-1:0] ix = ix0 + kxd;
    wire ok = iy >= 0 && iy < H && ix >= 0 && ix < W;
    wire signed [XW-1:0] addr = corner + chan_off + rowoff + kxd;

    // ---- address: registered addresses and the tap's flags -----------------------------
    reg a_v, a_first, a_last, a_ok;
    reg [JW-1:0] a_j;
    reg [NW-1:0] a_pix;
    always @(posedge clk) begin
        a_v <= iss && !rst && !start;
        a_first <= first_tap; a_last <= last_tap; a_ok <= ok; a_j <= j; a_pix <= pix;
    end

    // ---- lanes: each its channel, group, ROM slice position and bias --------------------
    reg s1_v, s1_first, s1_last, s1_ok;
    reg [JW-1:0] s1_j;
    reg [NW-1:0] s1_pix;
    always @(posedge clk) begin
        s1_v <= a_v && !rst;
        s1_first <= a_first; s1_last <= a_last; s1_ok <= a_ok; s1_j <= a_j; s1_pix <= a_pix;
    end
    reg s2_v, s2_first, s2_last;
    reg [JW-1:0] s2_j;
    reg [NW-1:0] s2_pix;
    always @(posedge clk) begin
        s2_v <= s1_v && !rst;
        s2_first <= s1_first; s2_last <= s1_last; s2_j <= s1_j; s2_pix <= s1_pix;
    end
    wire [P*ACC_W-1:0] sums;
    genvar l;
    generate for (l = 0; l < P; l = l + 1) begin : lane
        // the slice starts at the segment bit of channel l*OCL's first code; BASE is
        // that bit's place in the slice's first word
        localparam integer BASE = (l * OCL * T * B) % WORD_W;
        wire [BW-1:0] pos = cpos + BASE;
        reg [ROM_AW-1:0] a_word;
        reg [WB-1:0] a_off, s1_off;
        always @(posedge clk) begin
            a_word <= pos[BW-1:WB]; a_off <= pos[WB-1:0]; s1_off <= a_off;
        end
        assign rom_addr[l*ROM_AW +: ROM_AW] = a_word;
        // the code's bits: when b divides the word width no code straddles and every offset
        // is a multiple of b, so the code is one of WORD_W/b fields of its word; else a
        // shift of the word pair
        wire [B-1:0] code_next;
        if (WORD_W % B == 0) begin : field
            localparam integer LB = $clog2(B);
            /* verilator lint_off UNUSEDSIGNAL */
            wire [WORD_W-1:0] word = rom_d0[l*WORD_W +: WORD_W];
            wire [WB-1:0] off = s1_off;
            /* verilator lint_on UNUSEDSIGNAL */
            if (LB < WB) begin : many
                wire [WB-LB-1:0] idx = off[WB-1:LB];
                assign code_next = word[idx*B +: B];
            end else begin : one
                assign code_next = word[B-1:0];
            end
        end else begin : pair
            /* verilator lint_off UNUSEDSIGNAL */
            wire [2*WORD_W-1:0] both = {rom_d1[l*WORD_W +: WORD_W], rom_d0[l*WORD_W +: WORD_W]} >> s1_off;
            /* verilator lint_on UNUSEDSIGNAL */
            assign code_next = both[B-1:0];
        end
        // the lane's biases: a copy of the layer's table, read at its channel
        reg [ACC_W-1:0] bias_rom [0:OC-1];
        initial $readmemh(BIAS_FILE, bias_rom);
        reg [ACC_W-1:0] bias_q;           // read in the align stage, for the PEs' first product
        wire [JW-1:0] oc_s1 = l * OCL + s1_j;
        always @(posedge clk) bias_q <= (oc_s1 < OC) ? bias_rom[oc_s1] : {ACC_W{1'b0}};
        // align: the code and the activation, registered
        reg [B-1:0] code;
        reg [A-1:0] x;
        always @(posedge clk) begin
            code <= code_next;
            x <= s1_ok ? in_d[(NRD > 1 ? l : 0) * A +: A] : {A{1'b0}};   // zero padding is q = 0
        end
        if (PO2 != 0) begin : po2
            wqrc_pe_po2 #(.B(B), .A(A), .A_SIGNED(A_SIGNED), .ACC_W(ACC_W)) u(
                .clk(clk), .first(s2_first), .en(s2_v), .bias(bias_q), .x(x), .code(code),
                .acc(sums[l*ACC_W +: ACC_W]));
        end else begin : dfp
            wqrc_pe_dfp #(.B(B), .A(A), .A_SIGNED(A_SIGNED), .ACC_W(ACC_W)) u(
                .clk(clk), .first(s2_first), .en(s2_v), .bias(bias_q), .x(x), .code(code),
                .acc(sums[l*ACC_W +: ACC_W]));
        end
    end endgenerate

    // the activation address of each read port: a grouped conv's lanes add their group's
    // first input channel (lane l's channel at j is l*OCL + j, its group that over OCG)
    generate for (l = 0; l < NRD; l = l + 1) begin : port
        reg [IN_AW-1:0] a_addr;
        reg [JW-1:0] in_group;              // the channel's place in its group
        reg signed [XW-1:0] gbase;          // its group's first input channel, as an address
        always @(posedge clk) begin
            if (start) begin
                in_group <= (l * OCL) % OCG; gbase <= ((l * OCL) / OCG) * CG * H * W;
            end else if (next_j) begin
                if (in_group == OCG - 1) begin
                    in_group <= 0; gbase <= gbase + CG * H * W;
                end else begin
                    in_group <= in_group + 1'b1;
                end
            end
            a_addr <= ok ? addr + (G > 1 ? gbase : 0) : 0;   // truncated: it fits
        end
        assign in_addr[l*IN_AW +: IN_AW] = a_addr;
    end endgenerate

    // ---- capture and drain: one requantized output per cycle ---------------------------
    reg cap;
    reg [JW-1:0] cap_j;
    reg [NW-1:0] cap_pix;
    reg [P*ACC_W-1:0] dq;          // lane 0 first
    reg [LW-1:0] dleft;
    reg [OUT_AW-1:0] daddr;
    wire [OUT_W-1:0] y;
    reg [LW-1:0] nact;             // lanes whose channel l*OCL + j exists
    integer k;
    always @* begin
        nact = 0;
        for (k = 0; k < P; k = k + 1)
            if (k * OCL + cap_j < OC) nact = nact + 1'b1;
    end
    // Per-channel exponents (docs/format.md section 1c): the drained channel's accumulator
    // moves left by D_c = SHIFT - sh_c before the one constant-shift requantizer, because
    // rshift_round(acc * 2^D, SHIFT) = rshift_round(acc, SHIFT - D) for every D >= 0. The
    // cost is a DMAX-position left shifter and an OC-entry table; without them (DMAX = 0)
    // the requantizer's shift is wiring, as before.
    localparam integer AW2 = ACC_W + DMAX;
    reg [JW-1:0] dch;              // the channel being drained
    wire [7:0] dsh;
    generate if (DMAX > 0) begin : g_chan
        reg [7:0] dsh_rom [0:OC-1];
        initial $readmemh(SHIFT_FILE, dsh_rom);
        assign dsh = (dch < OC) ? dsh_rom[dch] : 8'd0;
    end else begin : g_layer
        assign dsh = 8'd0;
    end endgenerate
    wire signed [AW2-1:0] acc2 = $signed(dq[ACC_W-1:0]) <<< dsh;
    wqrc_requant #(.ACC_W(AW2), .OUT_W(OUT_W), .SHIFT(SHIFT), .LO(LO), .HI(HI), .EVEN(EVEN)) rq(
        .acc(acc2), .y(y));
    always @(posedge clk) begin
        cap <= s2_v && s2_last && !rst;
        cap_j <= s2_j; cap_pix <= s2_pix;
        we_q <= 1'b0;
        if (rst) begin
            dleft <= 0; cap <= 1'b0;
        end else begin
            if (dleft != 0) begin
                we_q <= 1'b1; waddr_q <= daddr; out_d <= y;
                daddr <= daddr + OCL * NPIX; dleft <= dleft - 1'b1;
                dq <= dq >> ACC_W; dch <= dch + OCL;
            end
            if (cap) begin
                dq <= sums; dch <= cap_j;
                dleft <= nact;
                daddr <= cap_j * NPIX + cap_pix;
            end
        end
        done_q <= busy && !start && !rst && !running && !a_v && !s1_v && !s2_v && !cap && dleft == 0 && !done_q;
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
