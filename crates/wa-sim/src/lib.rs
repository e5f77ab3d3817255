//! Simulated WhatsApp network.
