//! The 14 MQTT 3.1.1 control packets. Decoded packets borrow their strings and payloads from the input.

use std::num::NonZeroU16;

use crate::list::List;
use crate::topic::{TopicFilter, TopicName};

/// A packet identifier: never 0 [MQTT-2.3.1-1].
pub type Pid = NonZeroU16;

/// Quality of service levels [MQTT-4.3].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    /// [MQTT-3.3.1-4] QoS 3 is a protocol violation: `None`.
    pub fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }
}

/// QoS and packet identifier travel together: QoS 0 has none, QoS 1 and 2 always have one [MQTT-2.3.1-5].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QosPid {
    AtMostOnce,
    AtLeastOnce(Pid),
    ExactlyOnce(Pid),
}

impl QosPid {
    pub fn qos(self) -> QoS {
        match self {
            Self::AtMostOnce => QoS::AtMostOnce,
            Self::AtLeastOnce(_) => QoS::AtLeastOnce,
            Self::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    pub fn pid(self) -> Option<Pid> {
        match self {
            Self::AtMostOnce => None,
            Self::AtLeastOnce(pid) | Self::ExactlyOnce(pid) => Some(pid),
        }
    }

    pub fn new(qos: QoS, pid: Pid) -> Self {
        match qos {
            QoS::AtMostOnce => Self::AtMostOnce,
            QoS::AtLeastOnce => Self::AtLeastOnce(pid),
            QoS::ExactlyOnce => Self::ExactlyOnce(pid),
        }
    }
}

/// One control packet. CONNECT is boxed: it is six times the size of the others and a client sends it once
/// per connection, while every packet decoded is moved around by value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Connect(Box<Connect<'a>>),
    ConnAck(ConnAck),
    Publish(Publish<'a>),
    PubAck(Pid),
    PubRec(Pid),
    PubRel(Pid),
    PubComp(Pid),
    Subscribe(Subscribe<'a>),
    SubAck(SubAck<'a>),
    Unsubscribe(Unsubscribe<'a>),
    UnsubAck(Pid),
    PingReq,
    PingResp,
    Disconnect,
}

impl Packet<'_> {
    /// The packet type number of the fixed header [MQTT-2.2.1].
    pub fn packet_type(&self) -> u8 {
        match self {
            Packet::Connect(_) => 1,
            Packet::ConnAck(_) => 2,
            Packet::Publish(_) => 3,
            Packet::PubAck(_) => 4,
            Packet::PubRec(_) => 5,
            Packet::PubRel(_) => 6,
            Packet::PubComp(_) => 7,
            Packet::Subscribe(_) => 8,
            Packet::SubAck(_) => 9,
            Packet::Unsubscribe(_) => 10,
            Packet::UnsubAck(_) => 11,
            Packet::PingReq => 12,
            Packet::PingResp => 13,
            Packet::Disconnect => 14,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect => "DISCONNECT",
        }
    }
}

/// CONNECT [MQTT-3.1]. Protocol name "MQTT", level 4 are implied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect<'a> {
    pub client_id: &'a str,
    pub clean_session: bool,
    /// Seconds; 0 turns the keep-alive mechanism off [MQTT-3.1.2-10].
    pub keep_alive: u16,
    pub last_will: Option<LastWill<'a>>,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill<'a> {
    pub topic: TopicName<'a>,
    pub message: &'a [u8],
    pub qos: QoS,
    pub retain: bool,
}

/// CONNACK [MQTT-3.2].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub code: ConnectReturnCode,
}

/// CONNACK return codes [MQTT-3.2.2.3].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectReturnCode {
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUsernameOrPassword = 4,
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::Accepted,
            1 => Self::UnacceptableProtocolVersion,
            2 => Self::IdentifierRejected,
            3 => Self::ServerUnavailable,
            4 => Self::BadUsernameOrPassword,
            5 => Self::NotAuthorized,
            _ => return None,
        })
    }

    /// What the refusal means, in words a user can act on.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Accepted => "connection accepted",
            Self::UnacceptableProtocolVersion => "the broker does not speak MQTT 3.1.1",
            Self::IdentifierRejected => "the broker rejected the client id",
            Self::ServerUnavailable => "the broker is unavailable",
            Self::BadUsernameOrPassword => "bad user name or password",
            Self::NotAuthorized => "not authorized",
        }
    }
}

/// PUBLISH [MQTT-3.3].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish<'a> {
    pub dup: bool,
    pub qospid: QosPid,
    pub retain: bool,
    pub topic: TopicName<'a>,
    pub payload: &'a [u8],
}

/// SUBSCRIBE [MQTT-3.8].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe<'a> {
    pub pid: Pid,
    pub topics: List<'a, (TopicFilter<'a>, QoS)>,
}

/// SUBACK [MQTT-3.9]: one return code per requested filter, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck<'a> {
    pub pid: Pid,
    /// `Some(granted QoS)`, or `None` for 0x80, a refusal.
    pub return_codes: List<'a, Option<QoS>>,
}

/// UNSUBSCRIBE [MQTT-3.10].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    pub pid: Pid,
    pub topics: List<'a, TopicFilter<'a>>,
}
