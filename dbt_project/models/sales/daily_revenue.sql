-- Revenue per order day over orders that were not cancelled.
select
    order_date,
    count(*) as orders,
    sum(quantity) as items,
    cast(sum(amount) as decimal(18, 2)) as revenue
from {{ source('silver', 'orders') }}
where status <> 'cancelled'
group by order_date
