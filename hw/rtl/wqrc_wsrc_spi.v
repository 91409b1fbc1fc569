// A weight source of the descriptor-driven accelerator (wqrc_seq_conv.v's w_* port) from the
// board's SPI flash, for models whose weights do not fit on chip: the packer's image
// (OUT/rom/weights.bin, docs/format.md section 4) written to the flash at byte BASE.
//
// w_seek starts a READ (03h) at BASE + w_from * W/8; the flash then streams the image in order
// (little-endian words, each byte most significant bit first), one bit per two clocks (SCK =
// clk / 2, SPI mode 0). One word is held for the next request and one more is shifted in; with
// both full, SCK stops (low) until a request takes the held word. A request is answered the
// next cycle when a word is held, else as soon as one is complete.
`default_nettype none
module wqrc_wsrc_spi #(
    parameter integer W = 32,           // word width (a multiple of 8)
    parameter integer AW = 8,
    parameter integer BASE = 0          // the image's first byte in the flash
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          seek,
    input  wire [AW-1:0] from,
    input  wire          req,
    output reg           valid,
    output reg  [W-1:0]  data,
    output reg           cs_n,
    output reg           sck,
    output reg           mosi,
    input  wire          miso
);
    localparam integer IDLE = 0, DESEL = 1, CMD = 2, READ = 3;
    localparam integer CW = $clog2(W + 1) + 1;
    reg [1:0] st;
    reg [5:0] n;                             // command bits left, or deselect cycles
    reg [31:0] cmd;
    reg [W-1:0] sh, hold;
    reg [6:0] byte_sh;                       // a byte's bits so far, most significant first
    reg [CW-1:0] got;                        // bits of the word being shifted in
    reg hold_v, want;
    /* verilator lint_off WIDTH */
    wire word_done = got == W;
    wire [W-1:0] byte_w = {byte_sh, miso};   // the byte that completes with this bit
    wire [23:0] byte_addr = BASE + from * (W / 8);
    always @(posedge clk) begin
        valid <= 1'b0;
        if (rst) begin
            st <= IDLE; cs_n <= 1'b1; sck <= 1'b0; mosi <= 1'b0; hold_v <= 1'b0; want <= 1'b0; got <= 0;
        end else if (seek) begin
            st <= DESEL; n <= 2; cs_n <= 1'b1; sck <= 1'b0; hold_v <= 1'b0; want <= 1'b0; got <= 0;
            cmd <= {8'h03, byte_addr};
        end else begin
            // the held word answers a request; a complete word moves into the free hold
            if ((want || req) && hold_v) begin
                valid <= 1'b1; data <= hold; hold_v <= 1'b0; want <= 1'b0;
            end else if (req) begin
                want <= 1'b1;
            end
            if (word_done && (!hold_v || ((want || req) && hold_v))) begin
                hold <= sh; hold_v <= 1'b1; got <= 0;
            end
            case (st)
                DESEL: if (n == 0) begin st <= CMD; n <= 32; cs_n <= 1'b0; mosi <= cmd[31]; end
                       else n <= n - 1'b1;
                CMD: if (!sck) sck <= 1'b1;                    // the flash samples mosi
                     else begin
                         sck <= 1'b0; cmd <= cmd << 1; mosi <= cmd[30]; n <= n - 1'b1;
                         if (n == 1) st <= READ;               // its first data bit follows this edge
                     end
                READ: if (sck) sck <= 1'b0;                    // the flash shifts out its next bit
                      else if (!word_done) begin               // room for a bit: sample it as SCK rises
                          sck <= 1'b1;
                          byte_sh <= {byte_sh[5:0], miso};
                          got <= got + 1'b1;
                          if (got[2:0] == 3'd7) sh <= (sh >> 8) | (byte_w << (W - 8));   // bytes enter at the top
                      end
                default: ;
            endcase
        end
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
