// Constant padding (docs/format.md section 3g), one output element per cycle in output order:
// the input placed at (PT, PL) in a (H+PT+PB) x (W+PL+PR) map of the code VALUE. Counters give
// the input address: it advances on every element inside the input's window.
`default_nettype none
module wqrc_pad_engine #(
    parameter integer C = 1,
    parameter integer H = 1,
    parameter integer W = 1,
    parameter integer PT = 0,
    parameter integer PL = 0,
    parameter integer PB = 0,
    parameter integer PR = 0,
    parameter integer VALUE = 0,          // the border's code, in the (unchanged) format
    parameter integer A = 8,              // element bits
    parameter integer IN_AW = 8,
    parameter integer OUT_AW = 8
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              start,
    output reg               done,
    output wire [IN_AW-1:0]  in_addr,
    input  wire [A-1:0]      in_d,
    output reg               out_we,
    output reg  [OUT_AW-1:0] out_addr,
    output reg  [A-1:0]      out_d
);
    localparam integer OH = H + PT + PB;
    localparam integer OW = W + PL + PR;
    localparam integer N = C * OH * OW;
    localparam integer IW = $clog2(N + 1) + 1;
    localparam integer XW = $clog2(C * H * W + 1) + 1;
    localparam integer DW = $clog2((OH > OW ? OH : OW) + 1) + 1;
    /* verilator lint_off WIDTH */
    /* verilator lint_off UNSIGNED */
    localparam [A-1:0] BORDER = VALUE;
    reg busy, running;
    reg [IW-1:0] i;                       // output element
    reg [DW-1:0] ox, oy;                  // output column, row
    reg [XW-1:0] addr;                    // input address of the next in_window element
    assign in_addr = addr;
    wire in_window = oy >= PT && oy < PT + H && ox >= PL && ox < PL + W;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; running <= 1'b0;
        end else if (start) begin
            busy <= 1'b1; running <= 1'b1; i <= 0; ox <= 0; oy <= 0; addr <= 0;
        end else if (running) begin
            i <= i + 1'b1;
            if (i == N - 1) running <= 1'b0;
            if (in_window) addr <= addr + 1'b1;
            if (ox == OW - 1) begin
                ox <= 0;
                oy <= oy == OH - 1 ? 0 : oy + 1'b1;
            end else begin
                ox <= ox + 1'b1;
            end
        end
        if (done) busy <= 1'b0;
    end

    reg s1_v, s1_in;
    reg [OUT_AW-1:0] s1_i;
    always @(posedge clk) begin
        s1_v <= running && !rst && !start;
        s1_in <= in_window;
        s1_i <= i;
        out_we <= s1_v && !rst;
        out_addr <= s1_i;
        out_d <= s1_in ? in_d : BORDER;
        done <= busy && !start && !rst && !running && !s1_v && !out_we && !done;
    end
    /* verilator lint_on UNSIGNED */
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
